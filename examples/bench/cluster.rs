//! A throwaway PostgreSQL cluster for the benchmark when `DATABASE_URL` is unset: Debian's server binaries,
//! a temporary directory, a free port; stopped and deleted on drop. The same approach as `scripts/test`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// A PostgreSQL cluster in a temporary directory, stopped and deleted on drop.
pub struct ThrowawayCluster {
    dir: PathBuf,
    bin: PathBuf,
    /// `postgres://postgres@127.0.0.1:<port>/postgres`
    pub url: String,
}

impl ThrowawayCluster {
    /// initdb + pg_ctl start. Unlike `scripts/test`, durability stays at PostgreSQL's defaults (fsync and
    /// synchronous commit on): a write benchmark without them would price a commit at nothing, which no
    /// production database does. Shared buffers are raised so the tables stay in memory.
    pub fn start() -> anyhow::Result<Self> {
        let bin = postgres_bin_dir().context(
            "DATABASE_URL is not set and PostgreSQL's server binaries are not installed \
             (Debian/Ubuntu: sudo apt-get install postgresql)",
        )?;
        let dir = std::env::temp_dir().join(format!("tributary-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let cluster = ThrowawayCluster {
            dir,
            bin,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        };
        if running_as_root() {
            run(Command::new("chown").arg("postgres").arg(&cluster.dir))?;
        }
        let data = cluster.dir.join("data");
        run(cluster.as_owner("initdb").arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
        ]))?;
        run(cluster
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(cluster.dir.join("server.log"))
            .args(["-w", "-o"])
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 \
                 -c shared_buffers=256MB",
                cluster.dir.display()
            ))
            .arg("start"))?;
        Ok(cluster)
    }

    /// initdb refuses to run as root; Debian's package creates the `postgres` user for this.
    fn as_owner(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }
}

impl Drop for ThrowawayCluster {
    fn drop(&mut self) {
        let _ = self
            .as_owner("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn postgres_bin_dir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    dirs.sort_by_key(|dir| major_version(dir));
    dirs.pop()
}

fn major_version(bin: &Path) -> u32 {
    bin.parent()
        .and_then(|dir| dir.file_name())
        .and_then(|name| name.to_str())
        .and_then(|name| name.parse().ok())
        .unwrap_or(0)
}

fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}
