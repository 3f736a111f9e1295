//! keepalived.conf read into lines of words: comments (`#` and `!` to the end of the
//! line, outside quotes), quoting (`"` and `'`, with the shell's escapes, joining what
//! touches them into one word), braces as words of their own, and the `include`
//! keywords expanded in place, as keepalived reads them.

use std::path::{Path, PathBuf};

use crate::error::{Dropped, ImportError, Loc};

/// How deep includes may nest.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Whether `include` reads files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Includes {
    /// Read them from the file system, relative to the including file's folder.
    Read,
    /// Read none: each `include` is listed as not carried over (text given alone, as
    /// the fuzz targets give it).
    Skip,
}

/// A word of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A word, its quotes removed and escapes applied.
    Word(String),
    /// `{`.
    Open,
    /// `}`.
    Close,
}

/// One line's words, with where it is.
#[derive(Debug)]
pub(crate) struct Line {
    pub loc: Loc,
    pub toks: Vec<Tok>,
}

/// Reads a file and what it includes into [`Line`]s.
pub(crate) struct Reader<'d> {
    includes: Includes,
    pub lines: Vec<Line>,
    dropped: &'d mut Vec<Dropped>,
    /// The files being read, outermost first (an include loop is refused).
    open: Vec<PathBuf>,
}

const INCLUDE_WORDS: &[&str] = &[
    "include", "includer", "includem", "includew", "includeb", "includea",
];

impl<'d> Reader<'d> {
    /// A reader that lists what it skips in `dropped`.
    pub fn new(includes: Includes, dropped: &'d mut Vec<Dropped>) -> Self {
        Reader {
            includes,
            lines: Vec::new(),
            dropped,
            open: Vec::new(),
        }
    }

    /// Read the file at `path`.
    pub fn read_file(&mut self, path: &Path) -> Result<(), ImportError> {
        let name = path.display().to_string();
        let text = std::fs::read(path).map_err(|e| ImportError::Read {
            file: name.clone(),
            reason: e.to_string(),
        })?;
        let text = String::from_utf8_lossy(&text);
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        self.open.push(canonical);
        let dir = path.parent().map(Path::to_path_buf);
        let result = self.read_text(&text, &name, dir.as_deref());
        self.open.pop();
        result
    }

    /// Read `text` as the file `name`, whose relative includes are taken from `dir`.
    pub fn read_text(
        &mut self,
        text: &str,
        name: &str,
        dir: Option<&Path>,
    ) -> Result<(), ImportError> {
        for (n, raw) in text.split('\n').enumerate() {
            let loc = Loc {
                file: name.to_string(),
                line: n + 1,
            };
            let line = raw.trim_end_matches('\r').trim_start();
            if line.is_empty() {
                continue;
            }
            if line.starts_with('@') {
                self.drop(&loc, "a conditional line (`@ID`): the importer does not know the config-id it is compared with".to_string());
                continue;
            }
            if line.starts_with('$') {
                self.drop(
                    &loc,
                    "a parameter definition (`$NAME=`): parameter substitution is not carried over"
                        .to_string(),
                );
                continue;
            }
            let first = line.split_whitespace().next().unwrap_or("");
            if INCLUDE_WORDS.contains(&first) {
                let rest = line[first.len()..].trim();
                let words = split(rest, &loc, false)?;
                let pattern = match words.as_slice() {
                    [Tok::Word(w)] => w.clone(),
                    _ => {
                        return Err(ImportError::at(
                            &loc,
                            format!("`{first}` takes one file name or pattern"),
                        ))
                    }
                };
                self.include(&pattern, dir, &loc)?;
                continue;
            }
            let toks = tokenize(line, &loc)?;
            if !toks.is_empty() {
                self.lines.push(Line { loc, toks });
            }
        }
        Ok(())
    }

    fn include(&mut self, pattern: &str, dir: Option<&Path>, loc: &Loc) -> Result<(), ImportError> {
        if self.includes == Includes::Skip {
            self.drop(
                loc,
                format!("`include {pattern}`: included files are not read here"),
            );
            return Ok(());
        }
        if self.open.len() >= MAX_INCLUDE_DEPTH {
            return Err(ImportError::at(
                loc,
                format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files"),
            ));
        }
        let full = match dir {
            Some(dir) if !pattern.starts_with('/') => dir.join(pattern).display().to_string(),
            _ => pattern.to_string(),
        };
        let mut files = Vec::new();
        for one in braces(&full, loc)? {
            let paths = glob::glob(&one)
                .map_err(|e| ImportError::at(loc, format!("include pattern {pattern:?}: {e}")))?;
            let mut matched: Vec<PathBuf> = paths
                .filter_map(Result::ok)
                .filter(|p| !p.is_dir())
                .collect();
            matched.sort();
            files.extend(matched);
        }
        if files.is_empty() {
            self.drop(loc, format!("`include {pattern}` matches no file"));
        }
        for file in files {
            let canonical = file.canonicalize().unwrap_or_else(|_| file.clone());
            if self.open.contains(&canonical) {
                return Err(ImportError::at(
                    loc,
                    format!("{} includes itself (an include loop)", file.display()),
                ));
            }
            self.read_file(&file)?;
        }
        Ok(())
    }

    fn drop(&mut self, loc: &Loc, what: String) {
        self.dropped.push(Dropped {
            loc: loc.clone(),
            what,
        });
    }
}

/// csh-style brace expansion of an include pattern: `{a,b}` gives one pattern each.
fn braces(pattern: &str, loc: &Loc) -> Result<Vec<String>, ImportError> {
    const MAX: usize = 1024;
    let mut todo = vec![pattern.to_string()];
    let mut done = Vec::new();
    while let Some(p) = todo.pop() {
        let Some(open) = p.find('{') else {
            done.push(p);
            continue;
        };
        // The matching close and the top-level commas between.
        let mut depth = 0;
        let mut close = None;
        let mut commas = Vec::new();
        for (i, c) in p.char_indices().skip_while(|(i, _)| *i < open) {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(i);
                        break;
                    }
                }
                ',' if depth == 1 => commas.push(i),
                _ => {}
            }
        }
        let Some(close) = close else {
            return Err(ImportError::at(
                loc,
                format!("include pattern {pattern:?}: unbalanced braces"),
            ));
        };
        let mut bounds = vec![open];
        bounds.extend(commas);
        bounds.push(close);
        for pair in bounds.windows(2) {
            let alt = &p[pair[0] + 1..pair[1]];
            todo.push(format!("{}{alt}{}", &p[..open], &p[close + 1..]));
        }
        if todo.len() + done.len() > MAX {
            return Err(ImportError::at(
                loc,
                format!("include pattern {pattern:?} expands to more than {MAX} patterns"),
            ));
        }
    }
    done.reverse();
    Ok(done)
}

/// The words of one line (the part before a comment).
pub(crate) fn tokenize(line: &str, loc: &Loc) -> Result<Vec<Tok>, ImportError> {
    split(line, loc, true)
}

/// The words of `line`; braces are words of their own when `braces`, else part of the
/// word they touch (an include pattern's `{a,b}`).
fn split(line: &str, loc: &Loc, braces: bool) -> Result<Vec<Tok>, ImportError> {
    let mut toks = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else if c == '\\' {
                escape(&mut chars, &mut word);
            } else {
                word.push(c);
            }
            continue;
        }
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    toks.push(Tok::Word(std::mem::take(&mut word)));
                    in_word = false;
                }
            }
            '#' | '!' => break,
            '{' | '}' if braces => {
                if in_word {
                    toks.push(Tok::Word(std::mem::take(&mut word)));
                    in_word = false;
                }
                toks.push(if c == '{' { Tok::Open } else { Tok::Close });
            }
            '"' | '\'' => {
                quote = Some(c);
                in_word = true;
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(ImportError::at(
            loc,
            format!("a string opened with {q} is not closed on its line"),
        ));
    }
    if in_word {
        toks.push(Tok::Word(word));
    }
    Ok(toks)
}

/// One escape inside quotes (the backslash read): `\a \b \E \f \n \r \t \v`, `\nnn`
/// (octal), `\xXX` (hex), `\cC` (control), and `\C` for any other `C`.
fn escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, word: &mut String) {
    let Some(c) = chars.next() else {
        word.push('\\');
        return;
    };
    let simple = match c {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'E' => Some('\x1b'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        _ => None,
    };
    if let Some(s) = simple {
        word.push(s);
        return;
    }
    match c {
        '0'..='7' => {
            let mut v = c.to_digit(8).unwrap_or(0);
            for _ in 0..2 {
                match chars.peek().and_then(|d| d.to_digit(8)) {
                    Some(d) => {
                        v = v * 8 + d;
                        chars.next();
                    }
                    None => break,
                }
            }
            word.push(char::from_u32(v & 0xff).unwrap_or('?'));
        }
        'x' => {
            let mut v = 0u32;
            let mut n = 0;
            while n < 2 {
                match chars.peek().and_then(|d| d.to_digit(16)) {
                    Some(d) => {
                        v = v * 16 + d;
                        chars.next();
                        n += 1;
                    }
                    None => break,
                }
            }
            if n == 0 {
                word.push('x');
            } else {
                word.push(char::from_u32(v).unwrap_or('?'));
            }
        }
        'c' => match chars.next() {
            Some(k) => word.push(char::from_u32(u32::from(k) & 0x1f).unwrap_or('?')),
            None => word.push('c'),
        },
        other => word.push(other),
    }
}
