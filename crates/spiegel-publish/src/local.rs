//! The report store in a local directory: the object store's local file system, with reports
//! written create-only without a staging name.
//!
//! `LocalFileSystem` writes a create-only object to a staging file beside it, hard-links it to
//! its name and unlinks the staging name: three changes to the directory per report, each
//! under the directory's lock, and one freed inode. A release writes thousands of reports from
//! two cores into the same directories, and ext4 without a journal scans past every recently
//! freed inode when it allocates the next: in a cold run of 1M records just after an earlier
//! output was deleted, these took about a third of all CPU time (measured with `perf`). Here a report is written to an unnamed file in its directory
//! (`O_TMPFILE`) and linked to its name once whole: one change to the directory, nothing freed,
//! and a crash leaves nothing behind. Where the file system cannot make unnamed files, the
//! store writes as `LocalFileSystem` does. Everything else is `LocalFileSystem`'s.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMode, PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions,
};

const STORE: &str = "LocalReportStore";

/// An [`ObjectStore`] over a local directory whose create-only writes need no staging file.
#[derive(Debug, Clone)]
pub struct LocalReportStore {
    inner: Arc<LocalFileSystem>,
    root: PathBuf,
    /// Set once the file system refused an unnamed file: every later write goes the staged way.
    staged_only: Arc<AtomicBool>,
}

impl LocalReportStore {
    /// The store rooted at `root`, an existing directory.
    pub fn new(root: impl Into<PathBuf>) -> object_store::Result<Self> {
        let root = root.into();
        let inner = LocalFileSystem::new_with_prefix(&root)?;
        Ok(Self {
            inner: Arc::new(inner),
            root,
            staged_only: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl fmt::Display for LocalReportStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STORE}({})", self.root.display())
    }
}

/// What became of a write through an unnamed file.
enum Unnamed {
    Written(PutResult),
    /// The file system or the kernel has no unnamed files (or no `/proc` to link them by).
    Unsupported,
}

#[async_trait::async_trait]
impl ObjectStore for LocalReportStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        let plain = matches!(opts.mode, PutMode::Create) && opts.attributes.is_empty();
        if !plain || self.staged_only.load(Ordering::Relaxed) {
            return self.inner.put_opts(location, payload, opts).await;
        }
        let path = self.inner.path_to_filesystem(location)?;
        let written = {
            let payload = payload.clone();
            // Blocking file I/O stays off the runtime's workers, as in `LocalFileSystem`.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    let named = path.clone();
                    runtime
                        .spawn_blocking(move || create_unnamed(&path, &payload))
                        .await
                        .map_err(|e| failed(&named, std::io::Error::other(e)))??
                }
                Err(_) => create_unnamed(&path, &payload)?,
            }
        };
        match written {
            Unnamed::Written(result) => Ok(result),
            Unnamed::Unsupported => {
                // Two cores may find it out at once; it is said once.
                if !self.staged_only.swap(true, Ordering::Relaxed) {
                    tracing::info!(
                        store = %self,
                        "the report store cannot write unnamed files here; reports are staged under a temporary name"
                    );
                }
                self.inner.put_opts(location, payload, opts).await
            }
        }
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.inner.rename_opts(from, to, options).await
    }
}

/// A failed write, naming the file so that an administrator can look at its directory.
fn failed(path: &std::path::Path, source: impl Into<std::io::Error>) -> object_store::Error {
    let source: std::io::Error = source.into();
    object_store::Error::Generic {
        store: STORE,
        source: Box::new(std::io::Error::new(
            source.kind(),
            format!("writing {}: {source}", path.display()),
        )),
    }
}

#[cfg(target_os = "linux")]
fn create_unnamed(path: &std::path::Path, payload: &PutPayload) -> object_store::Result<Unnamed> {
    use rustix::fs::{AtFlags, CWD, Mode, OFlags};
    use rustix::io::Errno;
    use std::io::Write as _;
    use std::os::fd::AsRawFd as _;

    let parent = path.parent().ok_or_else(|| {
        failed(
            path,
            std::io::Error::other("a report path needs a directory"),
        )
    })?;
    let flags = OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC;
    // Read and write for everyone the umask allows, as a file created by `File::create`.
    let mode = Mode::from_raw_mode(0o666);
    let fd = match rustix::fs::open(parent, flags, mode) {
        Err(Errno::NOENT) => {
            std::fs::create_dir_all(parent).map_err(|e| failed(parent, e))?;
            rustix::fs::open(parent, flags, mode)
        }
        other => other,
    };
    let fd = match fd {
        Ok(fd) => fd,
        // Kernels and file systems without O_TMPFILE answer with one of these.
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL) => return Ok(Unnamed::Unsupported),
        Err(e) => return Err(failed(path, e)),
    };
    let mut file = std::fs::File::from(fd);
    for chunk in payload.iter() {
        file.write_all(chunk).map_err(|e| failed(path, e))?;
    }
    let metadata = file.metadata().map_err(|e| failed(path, e))?;
    // Linking by the descriptor itself (AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; its /proc
    // name needs nothing.
    let by_descriptor = format!("/proc/self/fd/{}", file.as_raw_fd());
    match rustix::fs::linkat(
        CWD,
        by_descriptor.as_str(),
        CWD,
        path,
        AtFlags::SYMLINK_FOLLOW,
    ) {
        Ok(()) => {}
        Err(Errno::EXIST) => {
            return Err(object_store::Error::AlreadyExists {
                path: path.to_string_lossy().into_owned(),
                source: Box::new(std::io::Error::from(std::io::ErrorKind::AlreadyExists)),
            });
        }
        // No /proc to link by, or a sandbox that refuses links through it: the staged way
        // needs neither, and where the directory itself is refused it says so in its error.
        Err(Errno::NOENT) if !std::path::Path::new("/proc/self/fd").exists() => {
            return Ok(Unnamed::Unsupported);
        }
        Err(Errno::PERM | Errno::ACCESS) => return Ok(Unnamed::Unsupported),
        Err(e) => return Err(failed(path, e)),
    }
    Ok(Unnamed::Written(PutResult {
        e_tag: Some(e_tag(&metadata)),
        version: None,
        extensions: Default::default(),
    }))
}

#[cfg(not(target_os = "linux"))]
fn create_unnamed(_: &std::path::Path, _: &PutPayload) -> object_store::Result<Unnamed> {
    Ok(Unnamed::Unsupported)
}

/// The entity tag `LocalFileSystem` gives the same file when it is read: inode, modification
/// time in microseconds and size, in hexadecimal.
#[cfg(target_os = "linux")]
fn e_tag(metadata: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt as _;
    let mtime = metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .unwrap_or_default()
        .as_micros();
    format!("\"{:x}-{:x}-{:x}\"", metadata.ino(), mtime, metadata.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use object_store::ObjectStoreExt as _;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .build()
            .unwrap()
    }

    fn create_only() -> PutOptions {
        PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        }
    }

    fn names_in(dir: &std::path::Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// The contract every report write relies on, on both ways of writing: the object appears
    /// whole under its name with nothing beside it, a second create-only write of the name is
    /// refused and leaves the first, and the entity tag is the one a read gives.
    fn check_create_only(store: &LocalReportStore, root: &std::path::Path) {
        let runtime = runtime();
        let location = Path::from("mirror/period=2025-H1/provider=1/a.parquet");
        let put = runtime
            .block_on(store.put_opts(&location, b"first".to_vec().into(), create_only()))
            .unwrap();
        let dir = root.join("mirror/period=2025-H1/provider=1");
        assert_eq!(names_in(&dir), ["a.parquet"]);
        let head = runtime.block_on(store.head(&location)).unwrap();
        assert_eq!(put.e_tag, head.e_tag);
        assert_eq!(head.size, 5);

        let again =
            runtime.block_on(store.put_opts(&location, b"second".to_vec().into(), create_only()));
        assert!(
            matches!(again, Err(object_store::Error::AlreadyExists { .. })),
            "{again:?}"
        );
        let read = runtime
            .block_on(async { store.get(&location).await?.bytes().await })
            .unwrap();
        assert_eq!(read.as_ref(), b"first");
        assert_eq!(names_in(&dir), ["a.parquet"]);

        // Writes that may overwrite (the manifest) replace the object.
        runtime
            .block_on(store.put(&location, b"third".to_vec().into()))
            .unwrap();
        let read = runtime
            .block_on(async { store.get(&location).await?.bytes().await })
            .unwrap();
        assert_eq!(read.as_ref(), b"third");
        assert_eq!(names_in(&dir), ["a.parquet"]);
    }

    #[test]
    fn a_report_is_linked_whole_under_its_name_and_never_twice() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalReportStore::new(root.path()).unwrap();
        check_create_only(&store, root.path());
        #[cfg(target_os = "linux")]
        assert!(
            !store.staged_only.load(Ordering::Relaxed),
            "the test's file system makes unnamed files: they were not used"
        );
    }

    #[test]
    fn without_unnamed_files_reports_are_staged_with_the_same_contract() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalReportStore::new(root.path()).unwrap();
        store.staged_only.store(true, Ordering::Relaxed);
        check_create_only(&store, root.path());
    }

    #[test]
    fn a_report_that_cannot_be_written_names_its_file() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalReportStore::new(root.path()).unwrap();
        // A file where the report's directory should be.
        std::fs::write(root.path().join("mirror"), b"").unwrap();
        let location = Path::from("mirror/a.parquet");
        let error = runtime()
            .block_on(store.put_opts(&location, b"x".to_vec().into(), create_only()))
            .unwrap_err()
            .to_string();
        assert!(error.contains("mirror/a.parquet"), "{error}");
    }

    #[test]
    fn a_path_the_local_store_refuses_is_refused_here_too() {
        let root = tempfile::tempdir().unwrap();
        let store = LocalReportStore::new(root.path()).unwrap();
        // `LocalFileSystem` reserves names ending in `#<digits>` for its staging files.
        let staged_name = Path::parse("mirror/a.parquet#1").unwrap();
        let refused =
            runtime().block_on(store.put_opts(&staged_name, b"x".to_vec().into(), create_only()));
        assert!(refused.is_err());
        assert!(names_in(root.path()).is_empty());
    }
}
