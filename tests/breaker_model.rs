//! Model-based property test: random sequences of successes, failures, timeouts, time advances,
//! force and reset, run against the real breaker on tokio's paused clock and against a small
//! reference model of the state machine written from its documentation. After every step the state,
//! the counters and each rejection's `retry_after` must agree.

use std::time::Duration;

use cachex_runtime::{BreakerConfig, CallError, CircuitBreaker, Error, RateWindow, State, Window};
use proptest::prelude::*;

const CALL_TIMEOUT_MS: u64 = 10;

#[derive(Debug, Clone)]
enum Op {
    Success,
    Failure,
    Timeout,
    Advance(u64),
    ForceOpen,
    ForceClose,
    Reset,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Success),
        6 => Just(Op::Failure),
        2 => Just(Op::Timeout),
        4 => (0u64..1_500).prop_map(Op::Advance),
        1 => Just(Op::ForceOpen),
        1 => Just(Op::ForceClose),
        1 => Just(Op::Reset),
    ]
}

#[derive(Debug)]
struct Model {
    threshold: u32,
    timeout_ms: u64,
    half_open_max: u32,
    now_ms: u64,
    state: State,
    forced: bool,
    consec: u32,
    open_until_ms: u64,
    trial_successes: u32,
    requests: u64,
    successes: u64,
    failures: u64,
    timeouts: u64,
    rejections: u64,
}

/// What the model expects of one call.
#[derive(Debug, PartialEq)]
enum Expect {
    Rejected { retry_after_ms: u64 },
    Ran,
}

impl Model {
    fn open(&mut self) {
        self.state = State::Open;
        self.open_until_ms = self.now_ms + self.timeout_ms;
    }

    fn call(&mut self, outcome: &Op) -> Expect {
        self.requests += 1;
        let admitted = match self.state {
            State::Closed | State::HalfOpen => true,
            State::Open if self.forced => false,
            State::Open if self.now_ms >= self.open_until_ms => {
                self.state = State::HalfOpen;
                self.trial_successes = 0;
                true
            }
            State::Open => false,
        };
        if !admitted {
            self.rejections += 1;
            let retry_after_ms = if self.forced {
                self.timeout_ms
            } else {
                self.open_until_ms - self.now_ms
            };
            return Expect::Rejected { retry_after_ms };
        }
        match outcome {
            Op::Success => {
                self.successes += 1;
                self.consec = 0;
                if self.state == State::HalfOpen {
                    self.trial_successes += 1;
                    if self.trial_successes >= self.half_open_max {
                        self.state = State::Closed;
                    }
                }
            }
            Op::Failure | Op::Timeout => {
                if matches!(outcome, Op::Timeout) {
                    self.timeouts += 1;
                    self.now_ms += CALL_TIMEOUT_MS;
                }
                self.failures += 1;
                self.consec += 1;
                match self.state {
                    State::Closed if !self.forced && self.consec >= self.threshold => self.open(),
                    State::HalfOpen => self.open(),
                    _ => {}
                }
            }
            _ => unreachable!("not a call"),
        }
        Expect::Ran
    }
}

async fn run_case(threshold: u32, timeout_ms: u64, half_open_max: u32, ops: Vec<Op>) {
    let b = CircuitBreaker::new(
        "model",
        BreakerConfig {
            threshold,
            timeout: Duration::from_millis(timeout_ms),
            half_open_max,
            call_timeout: Some(Duration::from_millis(CALL_TIMEOUT_MS)),
            rate: None,
            max_timeout: None,
        },
    );
    let mut m = Model {
        threshold,
        timeout_ms,
        half_open_max,
        now_ms: 0,
        state: State::Closed,
        forced: false,
        consec: 0,
        open_until_ms: 0,
        trial_successes: 0,
        requests: 0,
        successes: 0,
        failures: 0,
        timeouts: 0,
        rejections: 0,
    };
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Advance(ms) => {
                tokio::time::advance(Duration::from_millis(*ms)).await;
                m.now_ms += ms;
                // The state reported is the effective one: an OPEN breaker whose timeout has
                // passed reads HALF_OPEN before any call arrives.
                if m.state == State::Open && !m.forced && m.now_ms >= m.open_until_ms {
                    m.state = State::HalfOpen;
                    m.trial_successes = 0;
                }
            }
            Op::ForceOpen => {
                b.force_open();
                m.state = State::Open;
                m.forced = true;
            }
            Op::ForceClose => {
                b.force_close();
                m.state = State::Closed;
                m.forced = true;
                m.consec = 0;
            }
            Op::Reset => {
                b.reset();
                m.state = State::Closed;
                m.forced = false;
                m.consec = 0;
            }
            call => {
                let expect = m.call(call);
                let r: Result<(), CallError<()>> = b
                    .call(|| async {
                        match call {
                            Op::Success => Ok(()),
                            Op::Failure => Err(()),
                            _ => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                Ok(())
                            }
                        }
                    })
                    .await;
                let got = match r {
                    Err(CallError::Rejected(Error::CircuitOpen { retry_after, .. })) => {
                        Expect::Rejected {
                            retry_after_ms: retry_after.as_millis() as u64,
                        }
                    }
                    _ => Expect::Ran,
                };
                assert_eq!(got, expect, "step {i} ({op:?}) of {ops:?}");
            }
        }
        let s = b.stats();
        let ctx = || format!("after step {i} ({op:?}) of {ops:?}; model {m:?}");
        assert_eq!(s.state, m.state, "{}", ctx());
        assert_eq!(b.is_forced(), m.forced, "{}", ctx());
        assert_eq!(s.consecutive_failures, m.consec, "{}", ctx());
        assert_eq!(
            (
                s.total_requests,
                s.total_successes,
                s.total_failures,
                s.total_timeouts,
                s.total_rejections
            ),
            (
                m.requests,
                m.successes,
                m.failures,
                m.timeouts,
                m.rejections
            ),
            "{}",
            ctx()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn breaker_agrees_with_the_model(
        threshold in 1u32..5,
        timeout_ms in 1u64..2_000,
        half_open_max in 1u32..4,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(run_case(threshold, timeout_ms, half_open_max, ops));
    }
}

/// Between calls, the state a breaker reports predicts what the next call meets: OPEN rejects
/// it at once, CLOSED and HALF_OPEN run it (calls made one at a time never fill the HALF_OPEN
/// slots). Reading the state, however often, changes nothing. Written from the documented
/// "effective state": an OPEN breaker past its timeout reads HALF_OPEN before any call arrives.
async fn run_state_predicts_admission(
    threshold: u32,
    timeout_ms: u64,
    half_open_max: u32,
    ops: Vec<Op>,
) {
    let b = CircuitBreaker::new(
        "model-effective",
        BreakerConfig {
            threshold,
            timeout: Duration::from_millis(timeout_ms),
            half_open_max,
            call_timeout: Some(Duration::from_millis(CALL_TIMEOUT_MS)),
            rate: None,
            max_timeout: None,
        },
    );
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Advance(ms) => tokio::time::advance(Duration::from_millis(*ms)).await,
            Op::ForceOpen => b.force_open(),
            Op::ForceClose => b.force_close(),
            Op::Reset => b.reset(),
            call => {
                let before = b.state();
                let s = b.stats();
                assert_eq!(s.state, before, "step {i} of {ops:?}");
                assert_eq!(
                    s.is_healthy(),
                    before == State::Closed,
                    "step {i} of {ops:?}"
                );
                assert_eq!(b.state(), before, "reading twice, step {i} of {ops:?}");
                let requests = s.total_requests;
                let r: Result<(), CallError<()>> = b
                    .call(|| async {
                        match call {
                            Op::Success => Ok(()),
                            Op::Failure => Err(()),
                            _ => {
                                tokio::time::sleep(Duration::from_secs(3600)).await;
                                Ok(())
                            }
                        }
                    })
                    .await;
                let rejected = matches!(r, Err(CallError::Rejected(Error::CircuitOpen { .. })));
                assert_eq!(
                    rejected,
                    before == State::Open,
                    "step {i} ({op:?}) read {before} before the call, of {ops:?}"
                );
                assert_eq!(
                    b.stats().total_requests,
                    requests + 1,
                    "reads count no call"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn the_reported_state_predicts_the_next_call(
        threshold in 1u32..5,
        timeout_ms in 0u64..2_000,
        half_open_max in 1u32..4,
        ops in prop::collection::vec(op(), 1..40),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(run_state_predicts_admission(threshold, timeout_ms, half_open_max, ops));
    }
}

/// One step of the rate-window model: a call (failed or not, slow or not) or time passing.
#[derive(Debug, Clone)]
enum RateOp {
    Call { failed: bool, slow: bool },
    Advance(u64),
}

fn rate_op() -> impl Strategy<Value = RateOp> {
    prop_oneof![
        8 => (any::<bool>(), prop::bool::weighted(0.3))
            .prop_map(|(failed, slow)| RateOp::Call { failed, slow }),
        1 => (0u64..1_500).prop_map(RateOp::Advance),
    ]
}

const SLOW_CALL_MS: u64 = 100;
const RATE_TIMEOUT_MS: u64 = 1_000;

/// The reference of a rate-based breaker over a count window, written from the contract: the
/// last `n` CLOSED outcomes; once at least `minimum` are in, OPEN when the failure or slow
/// percentage reaches its (non-zero) threshold; then OPEN for the timeout, one trial call in
/// HALF_OPEN (a success closes with an empty window, a failure re-opens).
struct RateModel {
    n: usize,
    minimum: usize,
    failure_rate: usize,
    slow_rate: usize,
    now_ms: u64,
    state: State,
    open_until: u64,
    window: std::collections::VecDeque<(bool, bool)>,
}

impl RateModel {
    fn effective(&self) -> State {
        match self.state {
            State::Open if self.now_ms >= self.open_until => State::HalfOpen,
            s => s,
        }
    }

    fn open(&mut self) {
        self.state = State::Open;
        self.open_until = self.now_ms + RATE_TIMEOUT_MS;
        self.window.clear();
    }

    /// Returns whether the call is rejected.
    fn call(&mut self, failed: bool, slow: bool) -> bool {
        match self.effective() {
            State::Open => true,
            State::HalfOpen => {
                self.now_ms += if slow { 2 * SLOW_CALL_MS } else { 0 };
                if failed {
                    self.open();
                } else {
                    self.state = State::Closed;
                }
                false
            }
            State::Closed => {
                self.now_ms += if slow { 2 * SLOW_CALL_MS } else { 0 };
                self.window.push_back((failed, slow));
                if self.window.len() > self.n {
                    self.window.pop_front();
                }
                let len = self.window.len();
                let failures = self.window.iter().filter(|(f, _)| *f).count();
                let slows = self.window.iter().filter(|(_, s)| *s).count();
                let reaches = |k: usize, pct: usize| pct != 0 && k * 100 >= pct * len;
                if len >= self.minimum
                    && (reaches(failures, self.failure_rate) || reaches(slows, self.slow_rate))
                {
                    self.open();
                }
                false
            }
        }
    }
}

async fn run_rate_case(n: u32, minimum: u32, failure_rate: u32, slow_rate: u32, ops: Vec<RateOp>) {
    let b = CircuitBreaker::new(
        "rate-model",
        BreakerConfig {
            timeout: Duration::from_millis(RATE_TIMEOUT_MS),
            half_open_max: 1,
            rate: Some(RateWindow {
                window: Window::Calls(n),
                minimum_calls: minimum,
                failure_rate,
                slow_call: Some(Duration::from_millis(SLOW_CALL_MS)),
                slow_call_rate: slow_rate,
            }),
            ..BreakerConfig::default()
        },
    );
    let mut m = RateModel {
        n: n as usize,
        minimum: minimum as usize,
        failure_rate: failure_rate as usize,
        slow_rate: slow_rate as usize,
        now_ms: 0,
        state: State::Closed,
        open_until: 0,
        window: Default::default(),
    };
    for (i, op) in ops.iter().enumerate() {
        match *op {
            RateOp::Advance(ms) => {
                tokio::time::advance(Duration::from_millis(ms)).await;
                m.now_ms += ms;
            }
            RateOp::Call { failed, slow } => {
                let expect_rejected = m.call(failed, slow);
                let r: Result<(), CallError<&str>> = b
                    .call(|| async move {
                        if slow {
                            tokio::time::sleep(Duration::from_millis(2 * SLOW_CALL_MS)).await;
                        }
                        if failed {
                            Err("down")
                        } else {
                            Ok(())
                        }
                    })
                    .await;
                let rejected = matches!(r, Err(CallError::Rejected(_)));
                assert_eq!(rejected, expect_rejected, "step {i}: {op:?} in {ops:?}");
            }
        }
        assert_eq!(
            b.state(),
            m.effective(),
            "after step {i}: {op:?} in {ops:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    /// Count windows against the reference model: the last n calls, minimum calls, failure and
    /// slow-call rates that open when they reach their thresholds, and the half-open cycle.
    #[test]
    fn a_rate_breaker_agrees_with_the_count_window_model(
        n in 1u32..12,
        minimum in 1u32..14,
        failure_rate in 0u32..=100,
        slow_rate in 0u32..=100,
        ops in prop::collection::vec(rate_op(), 1..60),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        rt.block_on(run_rate_case(n, minimum, failure_rate, slow_rate, ops));
    }
}
