//! Where cargo puts the example binaries, and how to build them there:
//! tests (and programs run by `cargo run`) find and build the binaries they
//! start with the same cargo, target directory and profile as themselves.

use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Where cargo puts the binaries of one build: `<target>[/<triple>]/<profile>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The target directory (it holds `CACHEDIR.TAG`).
    pub target_dir: PathBuf,
    /// `--target TRIPLE`, for a cross build.
    pub triple: Option<String>,
    /// The profile's name as `--profile` takes it (`dev` for `debug/`).
    pub profile: String,
    /// The directory the binaries are in.
    pub profile_dir: PathBuf,
}

impl Layout {
    /// The layout of `profile_dir`, a directory cargo builds binaries into.
    pub fn of(profile_dir: &Path) -> io::Result<Layout> {
        let not_found = || io::Error::other(format!("{} is not in a cargo target directory", profile_dir.display()));
        let profile = match profile_dir.file_name().and_then(|p| p.to_str()).ok_or_else(not_found)? {
            "debug" => "dev".to_owned(),
            other => other.to_owned(),
        };
        let above = profile_dir.parent().ok_or_else(not_found)?;
        let (target_dir, triple) = if above.join("CACHEDIR.TAG").exists() {
            (above.to_owned(), None)
        } else {
            let target_dir = above.parent().filter(|t| t.join("CACHEDIR.TAG").exists()).ok_or_else(not_found)?;
            let triple = above.file_name().and_then(|t| t.to_str()).ok_or_else(not_found)?;
            (target_dir.to_owned(), Some(triple.to_owned()))
        };
        Ok(Layout { target_dir, triple, profile, profile_dir: profile_dir.to_owned() })
    }

    /// The layout the running program was built into, if it was built by cargo.
    pub fn of_current_exe() -> io::Result<Layout> {
        let exe = std::env::current_exe()?;
        Layout::of(exe.parent().ok_or_else(|| io::Error::other("the program has no directory"))?)
    }

    /// Builds the `examples` binaries `names` into this layout, with the
    /// cargo that built this crate (or `$CARGO`); cargo does nothing for
    /// fresh ones. Returns their paths.
    pub fn build_examples(&self, names: &[&str]) -> io::Result<Vec<PathBuf>> {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "--manifest-path", concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")])
            .args(["--profile", &self.profile])
            .arg("--target-dir")
            .arg(&self.target_dir)
            .stdin(Stdio::null());
        if let Some(triple) = &self.triple {
            cmd.args(["--target", triple]);
        }
        for name in names {
            cmd.args(["--bin", name]);
        }
        let out = cmd.output().map_err(|e| io::Error::new(e.kind(), format!("running cargo: {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(io::Error::other(format!("building {} failed ({}):\n{stderr}", names.join(", "), out.status)));
        }
        names.iter().map(|name| self.binary(name)).collect()
    }

    /// The path of binary `name` in this layout, which must exist.
    pub fn binary(&self, name: &str) -> io::Result<PathBuf> {
        let path = self.profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        if path.is_file() {
            Ok(path)
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, format!("{} does not exist", path.display())))
        }
    }
}
