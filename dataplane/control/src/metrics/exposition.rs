//! The Prometheus text exposition format, version 0.0.4: one `# HELP` and one `# TYPE`
//! line per family, then its samples, label values escaped.
//!
//! Samples of one family with equal label values are combined into one series (summed or
//! the largest kept, as the family says), so bad input never yields a duplicate series,
//! which Prometheus would refuse.

use std::collections::HashMap;
use std::fmt::Write as _;

/// The metric types rvs exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only goes up (resets on restart); the name ends in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// How two samples with equal label values combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Merge {
    /// Added up (counts), as node_exporter does for its IPVS backends.
    Sum,
    /// The larger kept (flags, ratios, states).
    Max,
}

/// A metric family: its name, type, help text and label names.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Family {
    /// Metric name.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// One line for `# HELP`.
    pub help: &'static str,
    /// Label names, in the order values are given.
    pub labels: &'static [&'static str],
    /// How duplicate series combine.
    pub merge: Merge,
}

/// A sample value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    /// An exact count.
    Int(u64),
    /// A ratio or other real number.
    Float(f64),
}

impl Value {
    fn merge(self, other: Value, how: Merge) -> Value {
        match (how, self, other) {
            (Merge::Sum, Value::Int(a), Value::Int(b)) => Value::Int(a.saturating_add(b)),
            (Merge::Sum, a, b) => Value::Float(a.as_f64() + b.as_f64()),
            (Merge::Max, Value::Int(a), Value::Int(b)) => Value::Int(a.max(b)),
            (Merge::Max, a, b) => Value::Float(a.as_f64().max(b.as_f64())),
        }
    }

    fn as_f64(self) -> f64 {
        match self {
            // Precision beyond 2^53 is lost, as it is in Prometheus itself.
            Value::Int(v) => v as f64,
            Value::Float(v) => v,
        }
    }

    fn write(self, out: &mut String) {
        match self {
            Value::Int(v) => {
                let _ = write!(out, "{v}");
            }
            Value::Float(v) if v.is_nan() => out.push_str("NaN"),
            Value::Float(v) if v == f64::INFINITY => out.push_str("+Inf"),
            Value::Float(v) if v == f64::NEG_INFINITY => out.push_str("-Inf"),
            Value::Float(v) => {
                let _ = write!(out, "{v}");
            }
        }
    }
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(u64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

/// The samples of one family, in first-seen order, duplicates merged.
pub(crate) struct Samples {
    family: Family,
    series: Vec<(Vec<String>, Value)>,
    index: HashMap<Vec<String>, usize>,
}

impl Samples {
    /// Add one sample; `labels` are the values of the family's labels, in order.
    pub fn add(&mut self, labels: Vec<String>, value: impl Into<Value>) {
        let value = value.into();
        debug_assert_eq!(
            labels.len(),
            self.family.labels.len(),
            "{}",
            self.family.name
        );
        match self.index.get(&labels) {
            Some(&i) => {
                let slot = &mut self.series[i].1;
                *slot = slot.merge(value, self.family.merge);
            }
            None => {
                self.index.insert(labels.clone(), self.series.len());
                self.series.push((labels, value));
            }
        }
    }
}

/// Write `family` to `out`: its `# HELP` and `# TYPE` lines, then the samples `fill` adds.
pub(crate) fn write_family(out: &mut String, family: Family, fill: impl FnOnce(&mut Samples)) {
    let mut samples = Samples {
        family,
        series: Vec::new(),
        index: HashMap::new(),
    };
    fill(&mut samples);
    out.push_str("# HELP ");
    out.push_str(family.name);
    out.push(' ');
    escape_help(out, family.help);
    out.push_str("\n# TYPE ");
    out.push_str(family.name);
    out.push(' ');
    out.push_str(family.kind.as_str());
    out.push('\n');
    for (values, value) in &samples.series {
        out.push_str(family.name);
        if !values.is_empty() {
            out.push('{');
            for (i, (name, v)) in family.labels.iter().zip(values).enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(name);
                out.push_str("=\"");
                escape_label_value(out, v);
                out.push('"');
            }
            out.push('}');
        }
        out.push(' ');
        value.write(out);
        out.push('\n');
    }
}

/// Escape a label value: backslash, double quote and line feed.
pub(crate) fn escape_label_value(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escape help text: backslash and line feed.
fn escape_help(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const F: Family = Family {
        name: "t_things_total",
        kind: Kind::Counter,
        help: "Things; a \\ and a\nline.",
        labels: &["a", "b"],
        merge: Merge::Sum,
    };

    fn escaped(s: &str) -> String {
        let mut out = String::new();
        escape_label_value(&mut out, s);
        out
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escaped(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escaped("x\ny"), "x\\ny");
        assert_eq!(escaped("plain é"), "plain é");
    }

    #[test]
    fn family_has_help_type_and_merged_samples() {
        let mut out = String::new();
        write_family(&mut out, F, |s| {
            s.add(vec!["1".into(), "q\"".into()], 2u64);
            s.add(vec!["2".into(), "".into()], 5u64);
            s.add(vec!["1".into(), "q\"".into()], 3u64);
        });
        assert_eq!(
            out,
            "# HELP t_things_total Things; a \\\\ and a\\nline.\n\
             # TYPE t_things_total counter\n\
             t_things_total{a=\"1\",b=\"q\\\"\"} 5\n\
             t_things_total{a=\"2\",b=\"\"} 5\n"
        );
    }

    #[test]
    fn max_merge_keeps_the_larger_and_floats_print_prometheus_style() {
        let family = Family {
            name: "t_ratio",
            kind: Kind::Gauge,
            help: "r",
            labels: &[],
            merge: Merge::Max,
        };
        let mut out = String::new();
        write_family(&mut out, family, |s| {
            s.add(vec![], 0.25);
            s.add(vec![], 0.5);
        });
        assert!(out.ends_with("\nt_ratio 0.5\n"), "{out}");
        for (v, text) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            let mut s = String::new();
            Value::Float(v).write(&mut s);
            assert_eq!(s, text);
        }
    }
}
