//! The S3 service as the server builds it, called in process without the HTTP edge and
//! without sockets: what `holdfast bench --hotpath` measures (instruction counts under
//! callgrind, `scripts/perf-guard.sh`). Not part of the API the server uses.

use crate::Gateway;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::BodyExt;

/// The S3 service of one [`Gateway`].
pub struct InProcess(crate::prerendered::S3);

impl InProcess {
    pub fn new(gateway: Gateway) -> Self {
        Self(crate::service(gateway))
    }

    /// Answers one request: its status and its whole body.
    pub async fn call(&self, req: Request<Bytes>) -> Result<(StatusCode, Bytes), String> {
        let resp = self.0.call(req.map(s3s::Body::from)).await.map_err(|e| format!("{e:?}"))?;
        let status = resp.status();
        let body = resp.into_body().collect().await.map_err(|e| format!("{e:?}"))?.to_bytes();
        Ok((status, body))
    }
}
