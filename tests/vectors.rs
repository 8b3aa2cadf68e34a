//! Runs the shared vectors through the Rust API.

mod common;

use common::Driver;
use std::time::Duration;
use workerlife::{ActionKind, Health, Policy, Pool};

#[derive(Default)]
struct RustDriver {
    pool: Option<Pool>,
}

fn e(err: workerlife::Error) -> String {
    err.to_string()
}

impl RustDriver {
    fn pool(&self) -> &Pool {
        self.pool.as_ref().expect("pool made first")
    }
}

impl Driver for RustDriver {
    fn new_pool(&mut self, policy: &str, slots: u32, seed: u64) -> Result<(), String> {
        let policy = Policy::parse(policy).map_err(e)?;
        self.pool = Some(
            Pool::builder(&policy)
                .slots(slots)
                .seed(seed)
                .manual_clock(true)
                .build()
                .map_err(e)?,
        );
        Ok(())
    }
    fn begin(&mut self, slot: u32) -> Result<(), String> {
        self.pool().worker(slot).map_err(e)?.begin();
        Ok(())
    }
    fn end(&mut self, slot: u32) -> Result<bool, String> {
        Ok(self.pool().worker(slot).map_err(e)?.end())
    }
    fn begin_ticket(&mut self, slot: u32) -> Result<u64, String> {
        Ok(self
            .pool()
            .worker(slot)
            .map_err(e)?
            .begin_ticket()
            .map_err(e)?
            .raw())
    }
    fn end_ticket(&mut self, slot: u32, ticket: u64) -> Result<bool, String> {
        self.pool()
            .worker(slot)
            .map_err(e)?
            .end_ticket(workerlife::Ticket::from_raw(ticket))
            .map_err(e)
    }
    fn overdue(&mut self, slot: u32) -> Result<Vec<u64>, String> {
        let mut out = [workerlife::Ticket::from_raw(0); workerlife::TICKETS];
        let n = self.pool().worker(slot).map_err(e)?.overdue(&mut out);
        Ok(out[..n.min(out.len())].iter().map(|t| t.raw()).collect())
    }
    fn advance_us(&mut self, us: u64) -> Result<(), String> {
        self.pool().advance(Duration::from_micros(us)).map_err(e)
    }
    fn health(
        &mut self,
        slot: u32,
        rss: Option<u64>,
        uss: Option<u64>,
        pss: Option<u64>,
        fds: Option<u64>,
    ) -> Result<(), String> {
        self.pool()
            .worker(slot)
            .map_err(e)?
            .report_health(Health { rss, uss, pss, fds });
        Ok(())
    }
    fn heartbeat(&mut self, slot: u32) -> Result<(), String> {
        self.pool().worker(slot).map_err(e)?.heartbeat();
        Ok(())
    }
    fn on_event_loop(&mut self, slot: u32) -> Result<(), String> {
        self.pool().worker(slot).map_err(e)?.on_event_loop();
        Ok(())
    }
    fn check(&mut self, slot: u32, ok: bool) -> Result<(), String> {
        self.pool().worker(slot).map_err(e)?.check(ok);
        Ok(())
    }
    fn recycle(&mut self, slot: u32) -> Result<(), String> {
        self.pool().recycle(slot).map_err(e)
    }
    fn exiting(&mut self, slot: u32) -> Result<(), String> {
        self.pool().worker(slot).map_err(e)?.exiting();
        Ok(())
    }
    fn spawned(&mut self, slot: u32, pid: u32) -> Result<(), String> {
        self.pool().spawned(slot, pid).map_err(e)
    }
    fn claim(&mut self, pid: u32) -> Result<u32, String> {
        Ok(self.pool().claim(pid).map_err(e)?.index())
    }
    fn exited(&mut self, slot: u32, status: i32) -> Result<(), String> {
        self.pool().exited_slot(slot, status).map_err(e)
    }
    fn decision(&mut self, slot: u32) -> Result<(String, Option<String>), String> {
        let d = self.pool().decision(slot).map_err(e)?;
        Ok((
            d.action.as_str().to_string(),
            d.reason.map(|r| r.as_str().to_string()),
        ))
    }
    fn ready(&mut self, slot: u32) -> Result<(), String> {
        self.pool().ready(slot).map_err(e)
    }
    fn tick(&mut self) -> Result<Vec<common::TickAction>, String> {
        Ok(self
            .pool()
            .tick()
            .into_iter()
            .map(|a| {
                let kind = match a.kind {
                    ActionKind::Recycle => "recycle",
                    ActionKind::Kill => "kill",
                    ActionKind::Spawn => "spawn",
                };
                (
                    kind.to_string(),
                    a.slot,
                    a.reason.map(|r| r.as_str().to_string()),
                    a.replaces,
                )
            })
            .collect())
    }
    fn stats_json(&mut self) -> Result<String, String> {
        Ok(self.pool().stats_json())
    }
    fn container(&mut self, limit: Option<u64>, working_set: u64) -> Result<(), String> {
        self.pool().report_container(workerlife::MemoryReading {
            limit,
            usage: working_set,
            working_set,
            ..Default::default()
        });
        Ok(())
    }
    fn next_spawn_us(&mut self) -> Result<Option<u64>, String> {
        Ok(self.pool().next_spawn_in().map(|d| d.as_micros() as u64))
    }
}

#[test]
fn every_vector_passes_through_the_rust_api() {
    let n = common::run_all(&mut || Box::new(RustDriver::default()));
    assert!(n >= 40, "only {n} vector cases found");
}
