//! Stopping the child processes tests start (`tessera serve`, nginx) as an operator's service
//! manager does: SIGTERM first, so the process shuts down the way it does in production (tessera
//! drains and closes its database connections, nginx stops its workers, which a SIGKILL of the
//! master would orphan), and SIGKILL only if it has not exited within a bounded grace period.
//! Tests that simulate a crash send SIGKILL themselves.

use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How long a process gets to exit after SIGTERM before it is killed.
pub const GRACE: Duration = Duration::from_secs(5);

/// How a child came to an end.
#[derive(Debug)]
pub enum Stopped {
    /// It exited by itself or on SIGTERM, within the grace period.
    Exited(ExitStatus),
    /// It was still running after the grace period (or could not be waited for) and got SIGKILL.
    Killed,
}

/// SIGTERM to `child`, a wait of at most `grace` for it to exit, then SIGKILL. Reaps the child
/// either way; a child that has already exited is only reaped.
pub fn terminate(child: &mut Child, grace: Duration) -> Stopped {
    if let Ok(Some(status)) = child.try_wait() {
        return Stopped::Exited(status);
    }
    // `libc::kill` would need unsafe code, which the workspace denies: the `kill` utility sends it.
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + grace;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Stopped::Exited(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            Ok(None) | Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    Stopped::Killed
}
