//! The checks can fail: deliberately broken engines, plugged in through the engine
//! interface, are caught with the right violation.

use crate::support::scenario;
use engine::{ArrayConfig, ArrayEngine, Controller, EngineFactory, Input, MediaOp, Metadata, Output};
use mirrorsim::runner;
use mirrorsim::runner::Verdict;
use mirrorsim::scenario::CheckName;
use model::{Op, Reply};

/// Acknowledges writes as soon as they arrive, before the media has them.
struct AckEarly(Controller);

impl ArrayEngine for AckEarly {
    fn handle(&mut self, input: Input, out: &mut Vec<Output>) {
        let early = match &input {
            Input::Host { req, op: Op::Write { .. } } => Some(*req),
            _ => None,
        };
        let start = out.len();
        self.0.handle(input, out);
        if let Some(req) = early
            && out[start..].iter().any(|o| matches!(o, Output::Media { op: MediaOp::Write { .. }, .. }))
        {
            out.push(Output::Reply { req, result: Ok(Reply::Done) });
        }
        // Swallow the late acknowledgement the real controller sends.
        out.retain(|o| !matches!(o, Output::Reply { result: Ok(Reply::Done), req } if Some(*req) != early));
    }
}

/// Reads return the block after the one asked for.
struct OffByOne(Controller);

impl ArrayEngine for OffByOne {
    fn handle(&mut self, mut input: Input, out: &mut Vec<Output>) {
        if let Input::Host { op: Op::Read { block, vol, len }, .. } = &mut input
            && *block + u64::from(*len) < 4096
            && *vol == model::VolumeId(0)
        {
            *block += 1;
        }
        self.0.handle(input, out)
    }
}

struct Factory(fn(Controller) -> Box<dyn ArrayEngine>);

impl EngineFactory for Factory {
    fn name(&self) -> &str {
        "broken"
    }
    fn boot(&self, config: &ArrayConfig, _: &Metadata) -> Box<dyn ArrayEngine> {
        (self.0)(Controller::new(config))
    }
}

const CRASHING: &str = r#"{
  "name": "ack-early-crash",
  "arrays": [{ "name": "A", "volumes": [{ "name": "v", "blocks": 256 }] }],
  "hosts": [{ "name": "h", "workload": { "volumes": ["v"], "concurrency": 8, "ops": 2000, "read": "1/4" } }],
  "links": [{ "name": "l", "between": ["h", "A"] }],
  "timeline": [
    { "at": "3ms", "do": { "crash_array": { "array": "A", "restart_after": "1ms" } } },
    { "at": "9ms", "do": { "crash_array": { "array": "A", "restart_after": "1ms" } } }
  ],
  "checks": ["durability"]
}"#;

#[test]
fn acknowledging_before_the_media_is_caught_as_lost_writes() {
    let sc = scenario(CRASHING);
    let good = runner::run(&sc, 1, &engine::ControllerFactory::default(), false);
    assert_eq!(good.verdict, Verdict::Pass, "{:?}", good.details);
    let r = runner::run(&sc, 1, &Factory(|c| Box::new(AckEarly(c))), false);
    let Verdict::Violation { check, summary } = &r.verdict else {
        panic!("expected a violation, got {}", r.verdict)
    };
    assert_eq!(*check, CheckName::Durability);
    assert!(summary.contains("is lost"), "{summary}");
    let details = r.details.unwrap();
    assert!(details.starts_with("SEED=1 scenario \"ack-early-crash\""), "{details}");
    assert!(details.contains("reproduce: mirrorsim replay inline.json --seed 1"), "{details}");
    assert!(details.contains("-> ok"), "the neighbourhood lists the operations on the block: {details}");
}

#[test]
fn a_wrong_read_is_caught_by_the_differential_check_at_its_step() {
    let sc = scenario(
        r#"{
      "name": "off-by-one",
      "arrays": [{ "name": "A", "volumes": [{ "name": "v", "blocks": 4096 }] }],
      "hosts": [{ "name": "h", "workload": { "volumes": ["v"], "ops": 500, "blocks": { "hot_set": { "hot_blocks": 8, "hot": "1/1" } } } }],
      "links": [{ "name": "l", "between": ["h", "A"] }]
    }"#,
    );
    assert!(
        sc.checks.contains(&CheckName::Differential),
        "one client and no faults enables the differential check"
    );
    let r = runner::run(&sc, 3, &Factory(|c| Box::new(OffByOne(c))), false);
    let Verdict::Violation { check, summary } = &r.verdict else {
        panic!("expected a violation, got {}", r.verdict)
    };
    assert_eq!(*check, CheckName::Differential);
    assert!(summary.contains("the model reads"), "{summary}");
    assert!(summary.contains("at event"), "{summary}");
}

#[test]
fn a_bound_ends_the_run_with_a_named_outcome() {
    let sc = scenario(
        r#"{
      "name": "bounded",
      "arrays": [{ "name": "A", "volumes": [{ "name": "v", "blocks": 64 }] }],
      "hosts": [{ "name": "h", "workload": { "volumes": ["v"], "concurrency": 4, "ops": 100000 } }],
      "links": [{ "name": "l", "between": ["h", "A"] }],
      "limits": { "max_events": 5000 },
      "expect": { "ending": "max_events" }
    }"#,
    );
    let r = runner::run(&sc, 1, &engine::ControllerFactory::default(), false);
    assert_eq!(r.verdict, Verdict::Ending(sim::Ending::MaxEvents));
    assert!(r.expected_met);
    assert_eq!(r.events, 5000);
}

/// Array-to-array links carry peer messages, with the link's faults; every controller
/// incarnation starts with `Input::Started`.
#[test]
fn peer_messages_cross_array_links_and_restarts_are_announced() {
    use std::cell::RefCell;
    use std::rc::Rc;

    #[derive(Default)]
    struct Log {
        started: Vec<u32>,
        pings: u32,
        pongs: u32,
    }
    struct Pinger {
        me: model::ArrayId,
        inner: Controller,
        log: Rc<RefCell<Log>>,
    }
    impl ArrayEngine for Pinger {
        fn handle(&mut self, input: Input, out: &mut Vec<Output>) {
            match &input {
                Input::Started => {
                    self.log.borrow_mut().started.push(self.me.0);
                    if self.me.0 == 0 {
                        for _ in 0..50 {
                            out.push(Output::Send { to: model::ArrayId(1), msg: b"ping".to_vec() });
                        }
                    }
                }
                Input::Peer { from, msg } if msg == b"ping" => {
                    self.log.borrow_mut().pings += 1;
                    out.push(Output::Send { to: *from, msg: b"pong".to_vec() });
                }
                Input::Peer { msg, .. } if msg == b"pong" => self.log.borrow_mut().pongs += 1,
                _ => {}
            }
            self.inner.handle(input, out)
        }
    }
    struct PingFactory(Rc<RefCell<Log>>);
    impl EngineFactory for PingFactory {
        fn name(&self) -> &str {
            "pinger"
        }
        fn boot(&self, config: &ArrayConfig, _: &Metadata) -> Box<dyn ArrayEngine> {
            Box::new(Pinger { me: config.id, inner: Controller::new(config), log: self.0.clone() })
        }
    }
    let sc = scenario(
        r#"{
      "name": "peers",
      "arrays": [{ "name": "A", "volumes": [{ "name": "p", "blocks": 64 }] }, { "name": "B", "volumes": [{ "name": "r", "blocks": 64 }] }],
      "hosts": [{ "name": "h", "workload": { "volumes": ["p"], "ops": 200, "think": "100us" } }],
      "links": [
        { "name": "san", "between": ["h", "A"] },
        { "name": "remote", "between": ["A", "B"], "latency": "1ms", "drop": "1/5" }
      ],
      "timeline": [{ "at": "5ms", "do": { "crash_array": { "array": "B", "restart_after": "1ms" } } }]
    }"#,
    );
    let log = Rc::new(RefCell::new(Log::default()));
    let r = runner::run(&sc, 4, &PingFactory(log.clone()), true);
    assert_eq!(r.verdict, Verdict::Pass, "{:?}", r.details);
    let log = log.borrow();
    assert_eq!(log.started, vec![0, 1, 1], "A and B start; B restarts once");
    // A sent 50 pings at time 0 over a link dropping one in five; B answered each.
    assert!(log.pings > 25 && log.pings < 50, "pings delivered: {}", log.pings);
    assert!(log.pongs > 15 && log.pongs <= log.pings, "pongs delivered: {}", log.pongs);
}

/// Serves reads of a block from the first answer it ever gave for that block.
struct StaleCache {
    inner: Controller,
    cache: std::collections::BTreeMap<(model::VolumeId, u64), model::Value>,
    reads: std::collections::BTreeMap<engine::ReqId, (model::VolumeId, u64)>,
}

impl ArrayEngine for StaleCache {
    fn handle(&mut self, input: Input, out: &mut Vec<Output>) {
        if let Input::Host { req, op: Op::Read { vol, block, len: 1 } } = &input {
            if let Some(v) = self.cache.get(&(*vol, *block)) {
                out.push(Output::Reply { req: *req, result: Ok(Reply::Values(vec![*v])) });
                return;
            }
            self.reads.insert(*req, (*vol, *block));
        }
        let start = out.len();
        self.inner.handle(input, out);
        for o in &out[start..] {
            if let Output::Reply { req, result: Ok(Reply::Values(v)) } = o
                && let Some(key) = self.reads.remove(req)
            {
                self.cache.insert(key, v[0]);
            }
        }
    }
}

#[test]
fn a_stale_read_under_concurrency_is_caught_by_linearizability() {
    let sc = scenario(
        r#"{
      "name": "stale-cache",
      "arrays": [{ "name": "A", "volumes": [{ "name": "v", "blocks": 16 }] }],
      "hosts": [
        { "name": "h1", "workload": { "volumes": ["v"], "concurrency": 4, "ops": 400 } },
        { "name": "h2", "workload": { "volumes": ["v"], "concurrency": 4, "ops": 400 } }
      ],
      "links": [{ "name": "l1", "between": ["h1", "A"] }, { "name": "l2", "between": ["h2", "A"] }],
      "checks": ["linearizability"]
    }"#,
    );
    assert_eq!(runner::run(&sc, 2, &engine::ControllerFactory::default(), false).verdict, Verdict::Pass);
    struct F;
    impl EngineFactory for F {
        fn name(&self) -> &str {
            "stale-cache"
        }
        fn boot(&self, config: &ArrayConfig, _: &Metadata) -> Box<dyn ArrayEngine> {
            Box::new(StaleCache {
                inner: Controller::new(config),
                cache: Default::default(),
                reads: Default::default(),
            })
        }
    }
    let r = runner::run(&sc, 2, &F, false);
    let Verdict::Violation { check, summary } = &r.verdict else {
        panic!("expected a violation, got {}", r.verdict)
    };
    assert_eq!(*check, CheckName::Linearizability);
    assert!(r.details.as_deref().unwrap().contains("reproduce: mirrorsim replay"), "{summary}");
}
