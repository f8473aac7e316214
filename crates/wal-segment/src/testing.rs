//! Test support (feature `testing`): small real filesystems to fill, mounted for one test.
//!
//! The disk-full tests of this crate and of the engine run on tmpfs and on ext4 and xfs on loop
//! devices, where a full disk behaves as it does for users (not only as the simulation says).
//! Mounting needs root; without it, or without `mkfs.xfs`, [`mount`] says why, for the test to
//! print as its reason to skip.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A small filesystem mounted for one test, unmounted when dropped.
pub struct Mounted {
    point: tempfile::TempDir,
    /// The loop image's directory, for loop-mounted filesystems.
    _image: Option<tempfile::TempDir>,
}

impl Mounted {
    /// Where it is mounted.
    #[must_use]
    pub fn path(&self) -> &Path {
        self.point.path()
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        // Busy (a file still open after a failed check): detach it lazily, so that the temporary
        // directory's removal never reaches into the mounted filesystem.
        let unmounted = Command::new("umount").arg(self.point.path()).status();
        if !unmounted.is_ok_and(|status| status.success()) {
            let _ = Command::new("umount").arg("-l").arg(self.point.path()).status();
        }
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    match command.output() {
        Ok(output) if output.status.success() => Ok(()),
        Ok(output) => {
            Err(format!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr).trim()))
        }
        Err(error) => Err(format!("{command:?}: {error}")),
    }
}

/// Mounts a small `kind` filesystem: `"tmpfs"` of `tmpfs_bytes`, or `"ext4"` or `"xfs"` on a
/// loop device. `Err` says why it could not (not root, no mkfs, no loop device).
///
/// # Errors
/// The reason, for the test to print (or, under `WAL_TORTURE`, to fail with).
///
/// # Panics
/// On an unknown `kind`.
pub fn mount(kind: &str, tmpfs_bytes: u64) -> Result<Mounted, String> {
    if !rustix::process::geteuid().is_root() {
        return Err(format!("mounting {kind} needs root"));
    }
    let temp = |what: &str| tempfile::tempdir().map_err(|e| format!("{what}: {e}"));
    let point = temp("mount point")?;
    if kind == "tmpfs" {
        run(Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={tmpfs_bytes}"), "tmpfs"])
            .arg(point.path()))?;
        return Ok(Mounted { point, _image: None });
    }
    // xfs refuses filesystems under 300 MiB; the image is sparse either way.
    let (mkfs, args, size): (&str, &[&str], u64) = match kind {
        "ext4" => ("mkfs.ext4", &["-q", "-F", "-m", "0"], 32 << 20),
        "xfs" => ("mkfs.xfs", &["-q", "-f"], 320 << 20),
        _ => panic!("unknown filesystem {kind}"),
    };
    let image_dir = temp("image directory")?;
    let image = image_dir.path().join(format!("{kind}.img"));
    std::fs::File::create(&image)
        .and_then(|file| file.set_len(size))
        .map_err(|e| format!("{}: {e}", image.display()))?;
    run(Command::new(mkfs).args(args).arg(&image))
        .map_err(|error| format!("{error} (is {mkfs} installed?)"))?;
    run(Command::new("mount").args(["-o", "loop"]).arg(&image).arg(point.path()))?;
    Ok(Mounted { point, _image: Some(image_dir) })
}

/// Takes all but about `leave` bytes of the filesystem's free space (and at least `at_least`)
/// with a file, so that the log fills the rest, and removing the file frees space again.
///
/// # Panics
/// If the filler cannot be made.
#[must_use]
pub fn leave_free(mounted: &Mounted, leave: u64, at_least: u64) -> PathBuf {
    let filler = mounted.path().join("filler");
    let stat = rustix::fs::statvfs(mounted.path()).expect("statvfs");
    let free = stat.f_bavail * stat.f_frsize;
    let file = std::fs::File::create(&filler).expect("filler");
    let take = free.saturating_sub(leave).max(at_least);
    rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, take).expect("fallocate");
    file.sync_all().expect("sync filler");
    filler
}
