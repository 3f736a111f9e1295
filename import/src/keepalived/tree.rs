//! keepalived's lines made into a tree of statements and blocks.

use crate::error::{ImportError, Loc};
use crate::keepalived::lex::{Line, Tok};

/// How deep blocks may nest (keepalived's own grammar nests four deep).
const MAX_DEPTH: usize = 32;

/// A statement: its words, and the block that follows it, if any.
#[derive(Debug)]
pub(crate) struct Node {
    /// Where its first word is.
    pub loc: Loc,
    /// Its words; the first is the keyword.
    pub words: Vec<String>,
    /// The statements of its `{ ... }` block.
    pub block: Option<Vec<Node>>,
}

impl Node {
    /// The keyword.
    pub fn key(&self) -> &str {
        self.words.first().map(String::as_str).unwrap_or("")
    }

    /// The words after the keyword.
    pub fn args(&self) -> &[String] {
        self.words.get(1..).unwrap_or(&[])
    }

    /// The block's statements (none when it has no block).
    pub fn children(&self) -> &[Node] {
        self.block.as_deref().unwrap_or(&[])
    }
}

/// The top-level statements of `lines`.
pub(crate) fn build(lines: Vec<Line>) -> Result<Vec<Node>, ImportError> {
    // Open blocks: the statement and the children read so far.
    let mut stack: Vec<(Node, Vec<Node>)> = Vec::new();
    let mut top: Vec<Node> = Vec::new();
    fn level<'a>(stack: &'a mut [(Node, Vec<Node>)], top: &'a mut Vec<Node>) -> &'a mut Vec<Node> {
        match stack.last_mut() {
            Some((_, children)) => children,
            None => top,
        }
    }
    for line in lines {
        let mut words: Vec<String> = Vec::new();
        for tok in line.toks {
            match tok {
                Tok::Word(w) => words.push(w),
                Tok::Open => {
                    let node = if words.is_empty() {
                        // `{` on a line of its own opens the block of the statement before.
                        let here = level(&mut stack, &mut top);
                        match here.pop() {
                            Some(prev) if prev.block.is_none() => prev,
                            other => {
                                here.extend(other);
                                return Err(ImportError::at(
                                    &line.loc,
                                    "`{` without a keyword before it",
                                ));
                            }
                        }
                    } else {
                        Node {
                            loc: line.loc.clone(),
                            words: std::mem::take(&mut words),
                            block: None,
                        }
                    };
                    if stack.len() >= MAX_DEPTH {
                        return Err(ImportError::at(
                            &line.loc,
                            format!("blocks nest deeper than {MAX_DEPTH}"),
                        ));
                    }
                    stack.push((node, Vec::new()));
                }
                Tok::Close => {
                    if !words.is_empty() {
                        let node = Node {
                            loc: line.loc.clone(),
                            words: std::mem::take(&mut words),
                            block: None,
                        };
                        level(&mut stack, &mut top).push(node);
                    }
                    let Some((mut node, children)) = stack.pop() else {
                        return Err(ImportError::at(&line.loc, "`}` closes no block"));
                    };
                    node.block = Some(children);
                    level(&mut stack, &mut top).push(node);
                }
            }
        }
        if !words.is_empty() {
            let node = Node {
                loc: line.loc.clone(),
                words,
                block: None,
            };
            level(&mut stack, &mut top).push(node);
        }
    }
    if let Some((node, _)) = stack.pop() {
        return Err(ImportError::at(
            &node.loc,
            format!("the block of `{}` is not closed", node.key()),
        ));
    }
    Ok(top)
}
