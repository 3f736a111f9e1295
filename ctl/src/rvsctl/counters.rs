//! `rvsctl counters`: every worker counter, per worker and in total, generated from the
//! list of worker counters ([`WorkerInfo::COUNTERS`]), so a counter added to the list
//! shows here without a change to rvsctl.

use serde::Serialize;

use super::table::render;
use crate::proto::WorkerInfo;

/// What `rvsctl counters` shows (`--json` prints it as is).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CountersView {
    /// The workers' ids, in the order of every row's `workers`.
    pub workers: Vec<u16>,
    /// One row per counter.
    pub counters: Vec<CounterRow>,
}

/// One counter over the workers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CounterRow {
    /// The counter's name: its field in the control protocol, `drops` for the drops of
    /// every reason, `drops.REASON` for one reason.
    pub name: String,
    /// Its value on each worker.
    pub workers: Vec<u64>,
    /// The sum over the workers.
    pub total: u64,
}

impl CounterRow {
    fn new(name: String, workers: Vec<u64>) -> Self {
        Self {
            total: workers.iter().sum(),
            name,
            workers,
        }
    }
}

/// Every counter of the list in its order, then the drops: in all, and by each reason
/// some worker counted (`rvsctl drops` lists every reason).
pub fn view(list: &[WorkerInfo]) -> CountersView {
    let mut counters: Vec<CounterRow> = WorkerInfo::COUNTERS
        .iter()
        .map(|c| CounterRow::new(c.name.to_owned(), list.iter().map(c.get).collect()))
        .collect();
    let dropped = |w: &WorkerInfo| w.drops.iter().map(|(_, n)| n).sum();
    counters.push(CounterRow::new(
        "drops".to_owned(),
        list.iter().map(dropped).collect(),
    ));
    // Every worker lists every reason, in one order; the first worker's names them.
    let reasons = list.first().map(|w| w.drops.as_slice()).unwrap_or_default();
    for (reason, _) in reasons {
        let of = |w: &WorkerInfo| {
            w.drops
                .iter()
                .find(|(r, _)| r == reason)
                .map_or(0, |(_, n)| *n)
        };
        let row = CounterRow::new(format!("drops.{reason}"), list.iter().map(of).collect());
        if row.total > 0 {
            counters.push(row);
        }
    }
    CountersView {
        workers: list.iter().map(|w| w.id).collect(),
        counters,
    }
}

/// The table: a row per counter, a column per worker (`W0`, `W1`, ...), then the total.
pub fn table(view: &CountersView) -> String {
    let mut headers = vec!["COUNTER".to_owned()];
    headers.extend(view.workers.iter().map(|id| format!("W{id}")));
    headers.push("TOTAL".to_owned());
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    let rows: Vec<Vec<String>> = view
        .counters
        .iter()
        .map(|c| {
            std::iter::once(c.name.clone())
                .chain(c.workers.iter().map(u64::to_string))
                .chain(std::iter::once(c.total.to_string()))
                .collect()
        })
        .collect();
    render(&headers, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two workers whose every counter has a value of its own (set through the JSON, as
    /// a director sends them), and a drop on the second.
    fn workers() -> Vec<WorkerInfo> {
        (0..2u64)
            .map(|w| {
                let mut json = serde_json::to_value(WorkerInfo::default()).expect("json");
                for (i, c) in (0u64..).zip(WorkerInfo::COUNTERS) {
                    json[c.name] = (1000 * (w + 1) + i).into();
                }
                let mut info: WorkerInfo = serde_json::from_value(json).expect("read back");
                info.id = w as u16;
                info.drops = vec![("no_service".into(), 0), ("malformed".into(), 3 * w)];
                info
            })
            .collect()
    }

    #[test]
    fn every_counter_is_a_field_of_the_json_and_a_row_of_the_view() {
        let list = workers();
        let json = serde_json::to_value(&list[0]).expect("json");
        let view = view(&list);
        let text = table(&view);
        assert!(text.starts_with("COUNTER "), "{text}");
        for (i, c) in (0u64..).zip(WorkerInfo::COUNTERS) {
            let (a, b) = (1000 + i, 2000 + i);
            assert_eq!(json[c.name], a, "{} in the JSON", c.name);
            assert_eq!((c.get)(&list[1]), b, "{} read back", c.name);
            let row = view.counters.iter().find(|r| r.name == c.name);
            let row = row.unwrap_or_else(|| panic!("no row {}", c.name));
            assert_eq!((row.workers.as_slice(), row.total), (&[a, b][..], a + b));
            let line = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(c.name));
            let cells: Vec<&str> = line.expect("a line").split_whitespace().collect();
            assert_eq!(cells[1..], [a, b, a + b].map(|n| n.to_string()), "{text}");
        }
        let drops: Vec<_> = view.counters[WorkerInfo::COUNTERS.len()..].to_vec();
        assert_eq!(
            drops,
            [
                CounterRow::new("drops".into(), vec![0, 3]),
                CounterRow::new("drops.malformed".into(), vec![0, 3]),
            ]
        );
        assert_eq!(view.workers, [0, 1]);
    }

    #[test]
    fn a_listing_from_an_older_director_reads_its_missing_counters_as_zero() {
        // What a director sent before every counter had its field.
        let old = r#"{"id": 1, "lcore": 2, "rx_packets": 5, "rx_bytes": 300,
            "tx_packets": 4, "tx_bytes": 250, "drops": [["no_service", 1]],
            "redirected": 0, "conns_created": 2, "conns_expired": 1,
            "conns": 1, "conn_capacity": 4096, "busy_ratio": 0.5, "generation": 3}"#;
        let info: WorkerInfo = serde_json::from_str(old).expect("an older listing reads");
        assert_eq!((info.rx_packets, info.conns_created), (5, 2));
        assert_eq!((info.syn_cookies_sent, info.embryonic_evicted), (0, 0));
        let view = view(&[info]);
        assert_eq!(view.counters.last().map(|r| r.total), Some(1));
    }
}
