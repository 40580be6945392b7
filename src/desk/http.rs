//! The desk's small HTTP vocabulary on top of tiny_http: a reply value,
//! bounded body reading and JSON in and out.

use serde::Serialize;
use std::io::Read;

/// A response before it is handed to tiny_http.
pub struct Reply {
    pub status: u16,
    pub kind: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    pub fn new(status: u16, kind: &str, body: Vec<u8>) -> Reply {
        Reply {
            status,
            kind: kind.to_string(),
            body,
            headers: Vec::new(),
        }
    }

    pub fn text(status: u16, text: impl Into<String>) -> Reply {
        Reply::new(
            status,
            "text/plain; charset=utf-8",
            text.into().into_bytes(),
        )
    }

    pub fn json(status: u16, value: &impl Serialize) -> Reply {
        let body = serde_json::to_vec(value).unwrap_or_else(|e| {
            format!("{{\"error\":\"cannot encode the reply: {e}\"}}").into_bytes()
        });
        Reply::new(status, "application/json", body)
    }

    /// A refusal or failure the page shows as it is.
    pub fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(status, &serde_json::json!({ "error": message.into() }))
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn into_response(self) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        let mut r = tiny_http::Response::from_data(self.body).with_status_code(self.status);
        let fixed = [
            ("Content-Type", self.kind.as_str()),
            // Nothing the desk serves may be framed by another site or sniffed.
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "SAMEORIGIN"),
            ("Cache-Control", "no-store"),
        ];
        let extra = self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        for (name, value) in fixed.into_iter().chain(extra) {
            if let Ok(h) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                r.add_header(h);
            }
        }
        r
    }
}

/// The value of a request header (first one, case-insensitive name).
pub fn header<'a>(req: &'a tiny_http::Request, name: &str) -> Option<&'a str> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str())
}

/// The body, refused when longer than `limit` bytes (by its declared length,
/// or while reading when the client sends more than it said or uses chunks).
pub fn body(req: &mut tiny_http::Request, limit: u64) -> Result<Vec<u8>, Reply> {
    let too_big = || {
        Reply::error(
            413,
            format!("the request is larger than the limit of {}", size(limit)),
        )
    };
    if req.body_length().is_some_and(|n| n as u64 > limit) {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    req.as_reader()
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Reply::error(400, format!("cannot read the request: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    Ok(bytes)
}

/// A JSON body of at most 64 KiB, parsed into `T`.
pub fn json<T: serde::de::DeserializeOwned>(req: &mut tiny_http::Request) -> Result<T, Reply> {
    let bytes = body(req, 64 * 1024)?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Reply::error(
            400,
            format!("the request is not what the desk expects: {e}"),
        )
    })
}

pub fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{} MiB", b >> 20),
        b if b >= 1 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} bytes"),
    }
}

/// The query parameter `name`, percent-decoded.
pub fn query(url: &str, name: &str) -> Option<String> {
    let (_, q) = url.split_once('?')?;
    q.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}
