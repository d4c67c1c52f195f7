//! The reports folder (`--reports DIR`): every Trivy report kept as Trivy wrote it, one per
//! platform manifest, `sha256-HEX.json`, beside `sha256-HEX.scan.json` saying what it was
//! made from (the database, the ignore file). [`ReportStore::reusable`] hands back a report a
//! re-run can take instead of scanning again: same digest, same database, same ignore file.

use std::path::{Path, PathBuf};

use purser::digest::Digest;
use serde::{Deserialize, Serialize};

/// What a stored report was made from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Provenance {
    pub digest: String,
    /// The image as the chart names it, and its platform (for people reading the folder).
    pub image: String,
    pub platform: String,
    /// `trivy-db 2026-12-01T00:00:00Z` (see [`crate::trivy::Database::describe`]).
    pub database: String,
    /// sha256 of the `--ignorefile`, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignorefile: Option<String>,
    /// RFC 3339, UTC.
    pub scanned_at: String,
}

pub struct ReportStore {
    dir: PathBuf,
}

impl ReportStore {
    /// The folder, created when missing.
    pub fn open(dir: &Path) -> Result<ReportStore, String> {
        std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "cannot create the reports folder {}: {e} (choose another with --reports)",
                dir.display()
            )
        })?;
        Ok(ReportStore {
            dir: dir.to_owned(),
        })
    }

    /// Where the report of `digest` is (or goes).
    pub fn report_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", file_stem(digest)))
    }

    fn provenance_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(format!("{}.scan.json", file_stem(digest)))
    }

    /// The stored report of `digest` and when it was made, when it was made against the same
    /// database and ignore file; `None` otherwise (or when it is unreadable: scanned again).
    pub fn reusable(
        &self,
        digest: &Digest,
        database: &str,
        ignorefile: Option<&str>,
    ) -> Option<(Vec<u8>, Provenance)> {
        let provenance: Provenance =
            serde_json::from_slice(&std::fs::read(self.provenance_path(digest)).ok()?).ok()?;
        if provenance.digest != digest.to_string()
            || provenance.database != database
            || provenance.ignorefile.as_deref() != ignorefile
        {
            return None;
        }
        let report = std::fs::read(self.report_path(digest)).ok()?;
        Some((report, provenance))
    }

    /// Keeps a report and its provenance, each written whole (temporary file, rename); the
    /// provenance last, so a report without one is never reused.
    pub fn keep(
        &self,
        digest: &Digest,
        report: &[u8],
        provenance: &Provenance,
    ) -> Result<(), String> {
        let json = serde_json::to_vec_pretty(provenance).expect("provenance serialises");
        write_whole(&self.report_path(digest), report)?;
        write_whole(&self.provenance_path(digest), &json)
    }
}

fn file_stem(digest: &Digest) -> String {
    digest.to_string().replace(':', "-")
}

fn write_whole(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    std::io::Write::write_all(&mut tmp, bytes).map_err(fail)?;
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_is_reused_only_for_the_same_database_and_ignore_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = ReportStore::open(&dir.path().join("reports")).unwrap();
        let digest = Digest::sha256(b"manifest");
        let provenance = Provenance {
            digest: digest.to_string(),
            image: "docker.io/library/alpine:3.19".into(),
            platform: "linux/amd64".into(),
            database: "trivy-db 2026-12-01T00:00:00Z".into(),
            ignorefile: None,
            scanned_at: "2026-12-07T01:00:00Z".into(),
        };
        assert!(
            store
                .reusable(&digest, &provenance.database, None)
                .is_none()
        );
        store
            .keep(&digest, b"{\"SchemaVersion\":2}", &provenance)
            .unwrap();
        let (report, kept) = store.reusable(&digest, &provenance.database, None).unwrap();
        assert_eq!(report, b"{\"SchemaVersion\":2}");
        assert_eq!(kept, provenance);
        assert!(
            store
                .reusable(&digest, "trivy-db 2026-12-02T00:00:00Z", None)
                .is_none()
        );
        assert!(
            store
                .reusable(&digest, &provenance.database, Some("abc"))
                .is_none()
        );
        assert!(
            store
                .report_path(&digest)
                .ends_with(format!("sha256-{}.json", digest.hex())),
            "{}",
            store.report_path(&digest).display()
        );
    }
}
