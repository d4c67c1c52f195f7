//! Writing a bundle: [`BundleWriter::write`] streams the planned
//! [`Contents`](purser::bundle::contents::Contents) into its part files in one pass — members
//! from memory as they are, blobs straight from the source store (verified on the way), never
//! staged on disk and never held whole. The next few blobs are fetched while one is written
//! ([`READ_AHEAD`] of them, each through a channel of [`CHANNEL`] chunks), so registry round
//! trips overlap the disk without memory growing with layer sizes. Each part is written under
//! a temporary name beside its final one and renamed only when every part is complete, so no
//! half-written bundle is ever seen under the name asked for.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use futures_util::StreamExt;
use purser::bundle::contents::{Body, Contents, PlannedMember};
use purser::bundle::tar::{END_OF_ARCHIVE, member_header, padding};
use purser::plan::BlobStep;

use crate::copy::LocalBlobs;
use crate::store::{Store, StoreError};

/// Where and how to write.
pub struct BundleWriter<'a, S> {
    pub source: Arc<S>,
    /// Blobs from memory (a chart's config and archive).
    pub local: &'a LocalBlobs,
    /// Attempts per blob (a broken stream is fetched again from the start of the member).
    pub attempts: u32,
    /// The tar headers' modification time.
    pub mtime: u64,
}

/// Buffer between the network and the disk.
const BUFFER: usize = 1 << 20;
/// Blobs fetched ahead of the one being written (more buys no time on a local registry and
/// costs memory: 4 x 8 chunks peaked at 35 MiB, 2 x 4 at 23 MiB for the same 2 s export).
pub const READ_AHEAD: usize = 2;
/// Chunks buffered per blob fetched ahead.
pub const CHANNEL: usize = 4;

/// A blob being fetched ahead: its chunks as they arrive.
type Ahead = mpsc::Receiver<Result<Bytes, StoreError>>;

impl<S: Store> BundleWriter<'_, S> {
    /// Writes every part into `dir` (names from the bundle manifest); `on_member` is told of
    /// each member written. Returns the files written, in part order.
    pub async fn write(
        &self,
        contents: &Contents,
        dir: &Path,
        on_member: &(dyn Fn(&PlannedMember) + Send + Sync),
    ) -> Result<Vec<PathBuf>, String> {
        let mut ahead = self.read_ahead(contents);
        let mut temporary = Vec::new();
        for (k, members) in contents.parts.iter().enumerate() {
            let name = &contents.manifest.parts[k].file;
            let target = dir.join(name);
            // 0666 less the umask, as any file the user writes (tempfile's default is 0600).
            let file = tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
                .tempfile_in(dir)
                .map_err(|e| format!("{}: cannot create a file there: {e}", dir.display()))?;
            let mut out = std::io::BufWriter::with_capacity(BUFFER, file);
            for m in members {
                self.member(&mut out, m, &mut ahead)
                    .await
                    .map_err(|e| format!("writing {} ({}): {e}", target.display(), m.name))?;
                on_member(m);
            }
            out.write_all(&END_OF_ARCHIVE)
                .and_then(|()| out.flush())
                .map_err(|e| format!("writing {}: {e}", target.display()))?;
            let file = out
                .into_inner()
                .map_err(|e| format!("writing {}: {e}", target.display()))?;
            file.as_file()
                .sync_all()
                .map_err(|e| format!("writing {}: {e}", target.display()))?;
            temporary.push((file, target));
        }
        let mut written = Vec::new();
        for (file, target) in temporary {
            file.persist(&target)
                .map_err(|e| format!("{}: {e}", target.display()))?;
            written.push(target);
        }
        Ok(written)
    }

    /// Starts fetching the streamed blobs, in write order, a few ahead of the writer: one
    /// receiver per blob, in that order.
    fn read_ahead(&self, contents: &Contents) -> mpsc::Receiver<Ahead> {
        let steps: Vec<BlobStep> = contents
            .parts
            .iter()
            .flatten()
            .filter_map(|m| match &m.body {
                Body::Blob(step) if !self.local.contains_key(&step.digest) => Some(step.clone()),
                _ => None,
            })
            .collect();
        let (order, receivers) = mpsc::channel(READ_AHEAD);
        let source = self.source.clone();
        tokio::spawn(async move {
            for step in steps {
                let (tx, rx) = mpsc::channel(CHANNEL);
                if order.send(rx).await.is_err() {
                    return;
                }
                let source = source.clone();
                tokio::spawn(async move {
                    let Some(repo) = step.sources.first() else {
                        return;
                    };
                    let mut body = match source.blob_get(repo, &step.digest, step.size).await {
                        Ok(body) => body,
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    };
                    while let Some(chunk) = body.next().await {
                        let failed = chunk.is_err();
                        if tx.send(chunk).await.is_err() || failed {
                            return;
                        }
                    }
                });
            }
        });
        receivers
    }

    async fn member(
        &self,
        out: &mut std::io::BufWriter<tempfile::NamedTempFile>,
        m: &PlannedMember,
        ahead: &mut mpsc::Receiver<Ahead>,
    ) -> Result<(), String> {
        out.write_all(&member_header(&m.name, m.size, self.mtime))
            .map_err(|e| e.to_string())?;
        match &m.body {
            Body::Inline(bytes) => out.write_all(bytes).map_err(|e| e.to_string())?,
            Body::Blob(step) => {
                let fetched = match self.local.contains_key(&step.digest) {
                    true => None,
                    false => ahead.recv().await,
                };
                self.blob(out, step, fetched).await?;
            }
        }
        out.write_all(&[0u8; 512][..padding(m.size)])
            .map_err(|e| e.to_string())
    }

    /// The blob's bytes: from memory, from what was fetched ahead, else (that failing) from
    /// the first source that serves them whole.
    async fn blob(
        &self,
        out: &mut std::io::BufWriter<tempfile::NamedTempFile>,
        step: &BlobStep,
        fetched: Option<Ahead>,
    ) -> Result<(), String> {
        if let Some(bytes) = self.local.get(&step.digest) {
            return out.write_all(bytes).map_err(|e| e.to_string());
        }
        out.flush().map_err(|e| e.to_string())?;
        let start = out
            .get_mut()
            .as_file_mut()
            .stream_position()
            .map_err(|e| e.to_string())?;
        let mut last: Option<StoreError> = None;
        if let Some(mut rx) = fetched {
            let mut seen = 0u64;
            let mut result = Ok(());
            while let Some(chunk) = rx.recv().await {
                match chunk {
                    Ok(chunk) => {
                        seen += chunk.len() as u64;
                        out.write_all(&chunk).map_err(|e| e.to_string())?;
                    }
                    Err(e) => {
                        result = Err(e);
                        break;
                    }
                }
            }
            match result {
                Ok(()) if seen == step.size => return Ok(()),
                Ok(()) => {
                    last = Some(StoreError::message(format!(
                        "blob {}: {seen} bytes, its descriptor says {}",
                        step.digest, step.size
                    )));
                }
                Err(e) => last = Some(e),
            }
        }
        for attempt in 1..=self.attempts.max(1) {
            for repo in &step.sources {
                if attempt > 1 || last.is_some() {
                    // Back to where the member's body starts.
                    out.flush().map_err(|e| e.to_string())?;
                    let f = out.get_mut().as_file_mut();
                    f.set_len(start).map_err(|e| e.to_string())?;
                    f.seek(SeekFrom::Start(start)).map_err(|e| e.to_string())?;
                }
                match self.stream(out, repo, step).await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = Some(e),
                }
            }
            if let Some(e) = &last
                && !(e.is_transient()
                    || matches!(
                        e,
                        StoreError::RetriesExhausted { .. } | StoreError::DigestMismatch { .. }
                    ))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200 << attempt.min(5))).await;
        }
        Err(last.map_or_else(
            || format!("blob {}: no source holds it", step.digest),
            |e| e.to_string(),
        ))
    }

    async fn stream(
        &self,
        out: &mut std::io::BufWriter<tempfile::NamedTempFile>,
        repo: &purser::plan::Repository,
        step: &BlobStep,
    ) -> Result<(), StoreError> {
        let mut body = self.source.blob_get(repo, &step.digest, step.size).await?;
        let mut seen = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            seen += chunk.len() as u64;
            out.write_all(&chunk)
                .map_err(|e| StoreError::message(format!("writing the bundle: {e}")))?;
        }
        if seen != step.size {
            return Err(StoreError::message(format!(
                "blob {} from {repo}: {seen} bytes, its descriptor says {}",
                step.digest, step.size
            )));
        }
        Ok(())
    }
}
