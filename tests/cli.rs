//! The command line: every command's happy path and bad inputs, each with
//! its exact exit status and a message that names the culprit.

use crate::util::*;

#[test]
fn version_and_help_print_and_exit_zero() {
    let env = Env::new("help");
    assert!(env.ok(&["--version"]).starts_with("bach "));
    assert!(env.ok(&["help"]).contains("sessions start|end|list"));
    for args in [
        &["help", "daemon"][..],
        &["daemon", "--help"],
        &["daemon", "stop", "--help"],
        &["help", "daemon", "stop"],
    ] {
        assert!(env.ok(args).contains("bach daemon stop [--timeout SECS]"), "{args:?}");
    }
    for args in [
        &["tasks", "add", "--help"][..],
        &["sessions", "start", "-h"],
        &["internal", "session-watch", "--help"],
    ] {
        assert!(env.ok(args).starts_with("Usage:"), "{args:?}");
    }
}
