//! The same conformance suite through a one-member `Failover`, the tracing wrapper and the
//! timeout wrapper: each must behave exactly as the bare provider (same snapshots).

mod toy;

use std::sync::Arc;
use std::time::Duration;

use multiconvert_core::failover::Failover;
use multiconvert_core::wrappers::{Traced, WithTimeout};
use multiconvert_core::ConversionProvider;
use toy::Toy;

fn failover(base: &str) -> Arc<dyn ConversionProvider> {
    Arc::new(
        Failover::builder()
            .member(Toy::build(base, None))
            .build()
            .unwrap(),
    )
}

fn traced(base: &str) -> Arc<dyn ConversionProvider> {
    Arc::new(Traced::new(Toy::build(base, None)))
}

fn timed(base: &str) -> Arc<dyn ConversionProvider> {
    Arc::new(WithTimeout::new(
        Toy::build(base, None),
        Duration::from_secs(30),
        Duration::from_secs(30),
    ))
}

fn everything(base: &str) -> Arc<dyn ConversionProvider> {
    Arc::new(Traced::new(Arc::new(WithTimeout::new(
        failover(base),
        Duration::from_secs(30),
        Duration::from_secs(30),
    ))))
}

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/toy");

mod through_failover {
    multiconvert_conformance::conformance_suite! { provider: "toy", fixtures: super::FIXTURES, factory: super::failover }
}

mod through_tracing {
    multiconvert_conformance::conformance_suite! { provider: "toy", fixtures: super::FIXTURES, factory: super::traced }
}

mod through_timeout {
    multiconvert_conformance::conformance_suite! { provider: "toy", fixtures: super::FIXTURES, factory: super::timed }
}

mod through_all_wrappers {
    multiconvert_conformance::conformance_suite! { provider: "toy", fixtures: super::FIXTURES, factory: super::everything }
}
