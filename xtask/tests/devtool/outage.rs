//! A store outage mid-load (`xtask::prove::outage`): the functions of an
//! instance of their own keep their tables in a DynamoDB Local of the
//! test's own, which stops for a few seconds while users write and then
//! hangs. Every answer is a 503 with `Retry-After` or a true success, and
//! afterwards every session, cart, job and account is whole.

use xtask::prove::outage;
use xtask::stack::StackInfo;

#[test]
fn a_store_outage_mid_load_answers_503_and_leaves_nothing_half_written() {
    let tally = outage::run(&StackInfo::from_env().unwrap()).unwrap();
    assert_eq!(tally.outages, 2, "{tally:?}");
    assert!(tally.failures > 0, "{tally:?}");
    tally.check().unwrap();
}
