//! Breaker state changes as events (`registry().subscribe()`) and as `tracing` events.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant as StdInstant};

use cachex_runtime::{registry, BreakerConfig, CallError, Event, State};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::advance;

/// The event channel is process-wide and keeps 1,024 events per receiver: the tests of this
/// binary take turns so that one test's flood of events never makes another's receiver lag.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn cfg() -> BreakerConfig {
    BreakerConfig {
        threshold: 2,
        timeout: Duration::from_secs(10),
        half_open_max: 1,
        call_timeout: None,
        ..BreakerConfig::default()
    }
}

/// The transitions of breaker `name` received so far, in order (other breakers of this test
/// binary may send events at the same time).
fn drain(rx: &mut tokio::sync::broadcast::Receiver<Event>, name: &str) -> Vec<(State, State)> {
    let mut out = Vec::new();
    loop {
        match rx.try_recv() {
            Ok(Event::BreakerStateChanged { name: n, from, to }) if n == name => {
                out.push((from, to));
            }
            Ok(_) => {}
            Err(TryRecvError::Empty) => return out,
            Err(e) => panic!("unexpected receive error {e:?}"),
        }
    }
}

async fn call(name: &str, ok: bool) -> Result<(), CallError<&'static str>> {
    registry()
        .breaker(name)
        .call(|| async move {
            if ok {
                Ok(())
            } else {
                Err("down")
            }
        })
        .await
}

#[tokio::test(start_paused = true)]
async fn events_arrive_for_each_transition_in_order() {
    let _serial = SERIAL.lock().await;
    let name = "observe-events-order";
    registry().configure_breaker(name, cfg());
    let mut rx = registry().subscribe();

    // CLOSED -> OPEN after two failures.
    let _ = call(name, false).await;
    let _ = call(name, false).await;
    // OPEN -> HALF_OPEN once the timeout has passed, HALF_OPEN -> CLOSED on the trial's success.
    advance(Duration::from_secs(10)).await;
    call(name, true).await.unwrap();
    // Open again, then a failed trial: OPEN -> HALF_OPEN -> OPEN.
    let _ = call(name, false).await;
    let _ = call(name, false).await;
    advance(Duration::from_secs(10)).await;
    let _ = call(name, false).await;
    // Operator actions are state changes too, even when the state stays.
    registry().breaker(name).force_open();
    registry().breaker(name).force_close();
    registry().breaker(name).reset();

    use State::*;
    assert_eq!(
        drain(&mut rx, name),
        vec![
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Closed),
            (Closed, Open),
            (Open, HalfOpen),
            (HalfOpen, Open),
            (Open, Open),
            (Open, Closed),
            (Closed, Closed),
        ]
    );
}

#[tokio::test]
async fn events_of_many_threads_arrive_in_each_breakers_order() {
    // Several breakers changing state at once from several threads: every breaker's own events
    // still alternate OPEN / CLOSED in the order they happened.
    let _serial = SERIAL.lock().await;
    let mut rx = registry().subscribe();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let b = registry().breaker(&format!("observe-events-thread-{t}"));
                for _ in 0..100 {
                    b.force_open();
                    b.reset();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut all = Vec::new();
    while let Ok(Event::BreakerStateChanged { name, from, to }) = rx.try_recv() {
        all.push((name, from, to));
    }
    for t in 0..4 {
        let name = format!("observe-events-thread-{t}");
        let got: Vec<(State, State)> = all
            .iter()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, from, to)| (*from, *to))
            .collect();
        assert_eq!(got.len(), 200);
        for (i, (from, to)) in got.iter().enumerate() {
            let expected = if i % 2 == 0 {
                (State::Closed, State::Open)
            } else {
                (State::Open, State::Closed)
            };
            assert_eq!((*from, *to), expected, "event {i} of thread {t}");
        }
    }
}

#[tokio::test]
async fn a_subscriber_that_never_reads_does_not_block_or_slow_calls() {
    // A broadcast receiver that is never read must lag, not hold the breaker up: far more
    // transitions than the channel keeps all complete, and the receiver is told it lagged.
    let _serial = SERIAL.lock().await;
    let name = "observe-events-lagging";
    let b = registry().breaker(name);
    let transitions = 2_000u32;
    let timed = |b: &cachex_runtime::CircuitBreaker| {
        let start = StdInstant::now();
        for _ in 0..transitions {
            b.force_open();
            b.reset();
        }
        start.elapsed()
    };
    let without = timed(&b);
    let mut idle = registry().subscribe();
    let with = timed(&b);
    // Closed calls meanwhile are untouched.
    for _ in 0..1_000 {
        call(name, true).await.unwrap();
    }
    let ratio = with.as_secs_f64() / without.as_secs_f64().max(1e-9);
    println!(
        "{} transitions: {without:?} with no subscriber, {with:?} with one that never reads ({ratio:.1}x)",
        2 * transitions
    );
    // Sending to a channel costs a lock and a clone per transition; a blocked sender would
    // never finish. 50x leaves room for a noisy 2-core machine.
    assert!(
        with < without * 50 + Duration::from_millis(50),
        "transitions with an idle subscriber took {with:?} against {without:?}"
    );
    assert!(matches!(idle.recv().await, Err(RecvError::Lagged(n)) if n > 0));
}

/// One recorded `tracing` event: its level and its fields as text.
type Recorded = (tracing::Level, Vec<(String, String)>);

/// Every `tracing` event, recorded by a minimal subscriber.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Recorded>>>);

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.0
            .lock()
            .unwrap()
            .push((*event.metadata().level(), fields));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn state_changes_are_tracing_events_warn_on_open_info_otherwise() {
    let _serial = SERIAL.blocking_lock();
    let recorder = Recorder::default();
    let name = "observe-events-tracing";
    tracing::subscriber::with_default(recorder.clone(), || {
        let b = registry().breaker(name);
        b.force_open();
        b.reset();
    });
    let events = recorder.0.lock().unwrap().clone();
    let ours: Vec<_> = events
        .iter()
        .filter(|(_, f)| f.iter().any(|(k, v)| k == "breaker" && v == name))
        .collect();
    assert_eq!(ours.len(), 2, "{events:?}");
    let field = |i: usize, k: &str| -> String {
        ours[i]
            .1
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(ours[0].0, tracing::Level::WARN);
    assert_eq!(
        (field(0, "from"), field(0, "to")),
        ("CLOSED".into(), "OPEN".into())
    );
    assert_eq!(ours[1].0, tracing::Level::INFO);
    assert_eq!(
        (field(1, "from"), field(1, "to")),
        ("OPEN".into(), "CLOSED".into())
    );
}
