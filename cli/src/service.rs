//! `bgcopy service install|uninstall|status`: `bgcopy run` for one state directory as a
//! per-user service. With systemd's user manager (`systemctl --user`) the unit is
//! written to `$XDG_CONFIG_HOME/systemd/user/` and enabled; without it the unit is
//! still written and the command says how to start the engine instead (on macOS it
//! prints a launchd agent to install by hand: not tested here, no macOS machine).

use crate::args::ServiceAction;
use crate::commands::open;
use crate::fail::Failure;
use bgcopy::JobState;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The unit's name for a state directory: `bgcopy-<hash of the path>.service`, so that
/// several directories can each have their own.
fn unit_name(dir: &Path) -> String {
    // FNV-1a: stable across versions and platforms.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dir.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("bgcopy-{:08x}.service", h as u32)
}

fn unit_dir() -> Result<PathBuf, Failure> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(h) => PathBuf::from(h).join(".config"),
            None => {
                return Err(bgcopy::Error::invalid_arg(
                    "neither XDG_CONFIG_HOME nor HOME is set: nowhere to write the unit",
                )
                .into());
            }
        },
    };
    Ok(base.join("systemd").join("user"))
}

/// A word of `ExecStart=`, quoted for systemd.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

fn unit_text(exe: &Path, dir: &Path) -> String {
    format!(
        "[Unit]\n\
         Description=bgcopy transfers for {dir}\n\
         \n\
         [Service]\n\
         Type=simple\n\
         ExecStart={} --state-dir {} run\n\
         # Ctrl-C and SIGTERM end `bgcopy run` with 130 once its transfers checkpointed.\n\
         SuccessExitStatus=130\n\
         Restart=on-failure\n\
         RestartSec=5\n\
         TimeoutStopSec=15\n\
         \n\
         [Install]\n\
         WantedBy=default.target\n",
        quote(&exe.to_string_lossy()),
        quote(&dir.to_string_lossy()),
        dir = dir.display()
    )
}

fn launchd_plist(exe: &Path, dir: &Path, label: &str) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\"><dict>\n\
         <key>Label</key><string>{label}</string>\n\
         <key>ProgramArguments</key><array><string>{}</string><string>--state-dir</string>\
         <string>{}</string><string>run</string></array>\n\
         <key>RunAtLoad</key><true/>\n\
         <key>KeepAlive</key><dict><key>SuccessfulExit</key><false/></dict>\n\
         </dict></plist>\n",
        esc(&exe.to_string_lossy()),
        esc(&dir.to_string_lossy())
    )
}

/// `systemctl --user ARGS`; `None` when the user manager cannot be reached.
fn systemctl(args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("systemctl")
        .arg("--user")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .ok()?;
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    ))
}

fn have_systemd() -> bool {
    systemctl(&["show-environment"]).is_some_and(|(ok, _)| ok)
}

/// Run the action for the state directory `dir` (default: the platform's).
pub fn run(dir: Option<PathBuf>, action: ServiceAction) -> Result<i32, Failure> {
    let dir = match dir {
        Some(d) => d,
        None => bgcopy::default_state_dir()?,
    };
    // Resolve (and create, privately) the directory the service will serve.
    let m = open(Some(dir), false)?;
    let dir = m.state_dir().to_path_buf();
    let name = unit_name(&dir);
    let path = unit_dir()?.join(&name);
    let exe = std::env::current_exe().map_err(|e| Failure::io("find this program", &e))?;
    match action {
        ServiceAction::Install => {
            drop(m);
            if cfg!(target_os = "macos") {
                let label = name.trim_end_matches(".service").replace('-', ".");
                println!(
                    "Save this as ~/Library/LaunchAgents/{label}.plist, then run \
                     `launchctl load ~/Library/LaunchAgents/{label}.plist`:\n"
                );
                print!("{}", launchd_plist(&exe, &dir, &label));
                return Ok(0);
            }
            let parent = path.parent().expect("a unit directory");
            std::fs::create_dir_all(parent)
                .map_err(|e| Failure::io("create the unit directory", &e))?;
            std::fs::write(&path, unit_text(&exe, &dir))
                .map_err(|e| Failure::io("write the unit", &e))?;
            println!("wrote {}", path.display());
            if have_systemd() {
                let _ = systemctl(&["daemon-reload"]);
                match systemctl(&["enable", "--now", &name]) {
                    Some((true, _)) => println!("enabled and started {name}"),
                    _ => {
                        return Err(bgcopy::Error::new(
                            bgcopy::codes::E_UNEXPECTED,
                            format!("systemctl --user enable --now {name} failed"),
                        )
                        .into());
                    }
                }
            } else {
                println!(
                    "systemd's user manager is not reachable here (no `systemctl --user`): \
                     start it with `systemctl --user enable --now {name}` where it is, or run \
                     `{} --state-dir {} run` from your session's startup",
                    exe.display(),
                    dir.display()
                );
            }
        }
        ServiceAction::Uninstall => {
            drop(m);
            if have_systemd() {
                let _ = systemctl(&["disable", "--now", &name]);
            }
            match std::fs::remove_file(&path) {
                Ok(()) => println!("removed {}", path.display()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    println!("no unit at {}", path.display())
                }
                Err(e) => return Err(Failure::io("remove the unit", &e)),
            }
            if have_systemd() {
                let _ = systemctl(&["daemon-reload"]);
            }
        }
        ServiceAction::Status => {
            let installed = path.exists();
            println!(
                "unit:    {} ({})",
                path.display(),
                if installed {
                    "installed"
                } else {
                    "not installed"
                }
            );
            if installed && let Some((_, state)) = systemctl(&["is-active", &name]) {
                println!("systemd: {state}");
            }
            match bgcopy::engine_pid(&dir) {
                Some(pid) => println!("engine:  running in process {pid}"),
                None => println!("engine:  not running (queued jobs wait for one)"),
            }
            let jobs = m.enum_jobs()?;
            let count = |f: &dyn Fn(JobState) -> bool| {
                jobs.iter().filter(|j| j.get_state().is_ok_and(f)).count()
            };
            println!(
                "queue:   {} jobs: {} queued or transferring, {} transferred, {} in error, {} suspended",
                jobs.len(),
                count(&|s| s.is_active() || s == JobState::TransientError),
                count(&|s| s == JobState::Transferred),
                count(&|s| s == JobState::Error),
                count(&|s| s == JobState::Suspended)
            );
        }
    }
    Ok(0)
}
