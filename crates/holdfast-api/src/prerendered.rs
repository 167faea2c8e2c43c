//! A success body an operation wrote itself, carried past s3s's serializer.
//!
//! s3s builds every answer from the operation's output DTO; the only other thing of an
//! `S3Response` that reaches the HTTP response is its extensions. An operation that writes
//! its body directly (ListObjectsV2, `ops::list_xml`) returns an empty output and the bytes
//! as [`Prerendered`]; [`S3`] — the only way the server and the in-process bench call the
//! s3s service — puts them in place of the body s3s wrote for the empty output. Everything
//! before the operation (SigV4, the access check, the parsing of the request) and every
//! error answer stay s3s's.

use bytes::Bytes;
use s3s::dto::ListObjectsV2Output;
use s3s::{HttpError, HttpRequest, HttpResponse, S3Response};

/// The whole body of a 200 answer, written by the operation.
#[derive(Clone)]
pub(crate) struct Prerendered(pub Bytes);

/// A ListObjectsV2 answer whose body is `body`.
pub(crate) fn list_v2(body: Vec<u8>) -> S3Response<ListObjectsV2Output> {
    let mut resp = S3Response::new(ListObjectsV2Output::default());
    resp.extensions.insert(Prerendered(Bytes::from(body)));
    resp
}

/// The s3s service, with [`Prerendered`] bodies put in place.
pub struct S3(s3s::service::S3Service);

impl S3 {
    pub(crate) fn new(inner: s3s::service::S3Service) -> Self {
        Self(inner)
    }

    pub async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        let mut resp = self.0.call(req).await?;
        if let Some(Prerendered(body)) = resp.extensions_mut().remove::<Prerendered>() {
            // s3s set Content-Type (application/xml) and no Content-Length for its own body.
            resp.headers_mut().remove(http::header::CONTENT_LENGTH);
            *resp.body_mut() = s3s::Body::from(body);
        }
        Ok(resp)
    }
}
