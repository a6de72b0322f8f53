//! The systemd template units for many teams on one machine (`contrib/systemd/crmsync@.service`
//! and `crmsync@.timer`) are well formed: the sections and keys a oneshot sync needs, every
//! per-team path keyed by the instance name `%i`, and `ExecStart` running crmsync with
//! `--config`. `systemd-analyze verify` checks them too where it is installed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A unit file as `section → key → values` (a key may repeat).
type Unit = BTreeMap<String, BTreeMap<String, Vec<String>>>;

fn contrib(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("contrib/systemd")
        .join(name)
}

/// Parses systemd's INI syntax, panicking on a line that is neither a comment, a section
/// header, nor `Key=value` inside a section.
fn parse(name: &str) -> Unit {
    let text = std::fs::read_to_string(contrib(name)).expect("unit file");
    let mut unit = Unit::new();
    let mut section: Option<String> = None;
    for (idx, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            unit.entry(name.to_owned()).or_default();
            section = Some(name.to_owned());
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("{name}:{}: not Key=value: {line}", idx + 1));
        let section = section
            .as_ref()
            .unwrap_or_else(|| panic!("{name}:{}: a key before any section", idx + 1));
        assert!(
            !key.trim().is_empty() && key.trim().chars().all(|c| c.is_ascii_alphanumeric()),
            "{name}:{}: bad key {key:?}",
            idx + 1
        );
        unit.get_mut(section)
            .unwrap()
            .entry(key.trim().to_owned())
            .or_default()
            .push(value.trim().to_owned());
    }
    unit
}

/// The one value of `section.key`.
fn value<'a>(unit: &'a Unit, section: &str, key: &str) -> &'a str {
    let values = unit
        .get(section)
        .and_then(|s| s.get(key))
        .unwrap_or_else(|| panic!("no {key}= in [{section}]"));
    assert_eq!(values.len(), 1, "{key}= once in [{section}]");
    &values[0]
}

#[test]
fn the_template_service_keys_config_state_and_env_by_instance_and_runs_crmsync_with_config() {
    let service = parse("crmsync@.service");
    let sections: Vec<&str> = service.keys().map(String::as_str).collect();
    assert_eq!(sections, ["Service", "Unit"]);
    assert!(value(&service, "Unit", "Description").contains("%i"));
    assert_eq!(value(&service, "Service", "Type"), "oneshot");

    let exec: Vec<&str> = value(&service, "Service", "ExecStart")
        .split_whitespace()
        .collect();
    assert!(
        exec[0].starts_with('/') && exec[0].ends_with("/crmsync"),
        "ExecStart runs crmsync by absolute path: {exec:?}"
    );
    let config = exec
        .iter()
        .position(|a| *a == "--config")
        .map(|i| exec[i + 1])
        .expect("ExecStart passes --config");
    assert_eq!(config, "/etc/crmsync/%i/sync.toml");
    assert_eq!(exec.last(), Some(&"sync"));
    assert!(exec.contains(&"--quiet"), "quiet for the journal: {exec:?}");

    // Every per-team path is the instance's own.
    assert_eq!(
        value(&service, "Service", "EnvironmentFile"),
        "/etc/crmsync/%i/env"
    );
    assert_eq!(value(&service, "Service", "StateDirectory"), "crmsync/%i");
    assert_eq!(
        value(&service, "Service", "WorkingDirectory"),
        "/var/lib/crmsync/%i"
    );
    assert_eq!(value(&service, "Service", "ProtectSystem"), "strict");
    assert_eq!(value(&service, "Service", "UMask"), "0077");
}

#[test]
fn the_template_timer_runs_each_instance_nightly_and_installs_under_timers_target() {
    let timer = parse("crmsync@.timer");
    let sections: Vec<&str> = timer.keys().map(String::as_str).collect();
    assert_eq!(sections, ["Install", "Timer", "Unit"]);
    assert!(value(&timer, "Unit", "Description").contains("%i"));
    assert!(!value(&timer, "Timer", "OnCalendar").is_empty());
    assert_eq!(value(&timer, "Timer", "Persistent"), "true");
    assert_eq!(value(&timer, "Install", "WantedBy"), "timers.target");
    // A template timer starts the service of its own instance: no Unit= pointing elsewhere.
    assert!(!timer["Timer"].contains_key("Unit"));
}

#[test]
fn the_template_units_pass_systemd_analyze_verify_where_it_is_installed() {
    let analyze = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output();
    if !analyze.is_ok_and(|out| out.status.success()) {
        eprintln!(
            "systemd-analyze is not installed: skipping `verify` (the structural checks ran)"
        );
        return;
    }
    // As instance `acme`, with ExecStart pointing at the binary under test (verify checks that
    // the command exists and is executable).
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for (template, instance) in [
        ("crmsync@.service", "crmsync@acme.service"),
        ("crmsync@.timer", "crmsync@acme.timer"),
    ] {
        let text = std::fs::read_to_string(contrib(template)).unwrap();
        let text = text.replace("/usr/local/bin/crmsync", env!("CARGO_BIN_EXE_crmsync"));
        let path = dir.path().join(instance);
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .args(&files)
        .output()
        .expect("systemd-analyze runs");
    let err = String::from_utf8_lossy(&out.stderr);
    // Complaints about the units name their files; anything else is the machine (no systemd
    // running, a container) and is no verdict on the units.
    let about_ours: Vec<&str> = err.lines().filter(|l| l.contains("crmsync@acme")).collect();
    assert!(about_ours.is_empty(), "systemd-analyze verify:\n{err}");
    if !out.status.success() {
        eprintln!(
            "systemd-analyze verify could not run here (exit {:?}): {err}",
            out.status.code()
        );
    }
}
