//! Prometheus exposition for rvsd: [`render()`] writes the text format (every family is
//! listed in the [`mod@render`] module's documentation) and [`http`] serves it on `/metrics`.

mod exposition;
pub mod http;
pub mod render;

pub use render::{render, MetricsInput};
