//! Where the admin command line reads a password from: `--password` (visible in the process
//! list and shell history, kept for scripts that use it), `--password-stdin` (the first line
//! of standard input), `--password-env NAME` (an environment variable), or, when none is
//! given and standard input is a terminal, a prompt that does not echo.

use std::io::{BufRead, IsTerminal, Write};

use clap::Args;

/// The password options of a command.
#[derive(Debug, Clone, Args)]
pub struct PasswordArgs {
    /// The password itself (prefer --password-stdin or --password-env: arguments are visible
    /// to other users of the machine).
    #[arg(long, conflicts_with_all = ["password_stdin", "password_env"])]
    pub password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long, conflicts_with = "password_env")]
    pub password_stdin: bool,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "NAME")]
    pub password_env: Option<String>,
}

impl PasswordArgs {
    /// The password from wherever it was asked to come from.
    pub fn read(&self) -> Result<String, String> {
        if let Some(p) = &self.password {
            return Ok(p.clone());
        }
        if self.password_stdin {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
            return Ok(line.trim_end_matches(['\r', '\n']).to_owned());
        }
        if let Some(name) = &self.password_env {
            return std::env::var(name)
                .map_err(|_| format!("the environment variable {name} is not set"));
        }
        if std::io::stdin().is_terminal() {
            let first = prompt("Password: ")?;
            let again = prompt("Again: ")?;
            if first != again {
                return Err("the passwords differ".to_owned());
            }
            return Ok(first);
        }
        Err("give the password with --password-stdin, --password-env NAME or --password".to_owned())
    }
}

/// Asks on the terminal with echo turned off.
fn prompt(question: &str) -> Result<String, String> {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios is plain data filled in by tcgetattr before use; fd is standard input.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    let echo_off = unsafe { libc::tcgetattr(fd, &mut saved) } == 0 && {
        let mut quiet = saved;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: as above, with a copy of the settings read.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &quiet) == 0 }
    };
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    if echo_off {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(fd, libc::TCSANOW, &saved) };
    }
    eprintln!();
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
