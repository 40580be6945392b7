//! Who may talk to the desk: the Host must be this server (against DNS
//! rebinding), a present Origin must be this server, and every state-changing
//! request carries the per-run token in a header and in a SameSite=Strict cookie.

use std::io::Read;

pub const TOKEN_HEADER: &str = "X-Ocb-Token";

pub struct Guard {
    port: u16,
    token: String,
}

/// Why a request was refused, for the 403 reply.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused(pub &'static str);

impl Guard {
    pub fn new(port: u16) -> std::io::Result<Guard> {
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        Ok(Guard {
            port,
            token: hex::encode(bytes),
        })
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// The cookie's name carries the port: cookies ignore ports, and two
    /// servers on 127.0.0.1 must not read or overwrite each other's.
    fn cookie_name(&self) -> String {
        format!("ocb_desk_{}", self.port)
    }

    /// `Set-Cookie` value sent with every page.
    pub fn set_cookie(&self) -> String {
        format!(
            "{}={}; Path=/; SameSite=Strict; HttpOnly",
            self.cookie_name(),
            self.token
        )
    }

    /// Any request: the Host names this server, and an Origin (if sent) is it.
    pub fn check_site(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), Refused> {
        let own = |h: &str| {
            let h = h.to_ascii_lowercase();
            h == format!("127.0.0.1:{}", self.port) || h == format!("localhost:{}", self.port)
        };
        if !host.is_some_and(own) {
            return Err(Refused(
                "the Host header does not name this server (127.0.0.1 or localhost with its port)",
            ));
        }
        if let Some(o) = origin {
            let foreign = o
                .strip_prefix("http://")
                .is_none_or(|rest| !own(rest.trim_end_matches('/')));
            if foreign {
                return Err(Refused("requests from other sites are refused"));
            }
        }
        Ok(())
    }

    /// A state-changing request: the token in its header and in the cookie.
    pub fn check_token(&self, header: Option<&str>, cookie: Option<&str>) -> Result<(), Refused> {
        let name = self.cookie_name();
        let from_cookie = cookie.and_then(|c| {
            c.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == name).then_some(v)
            })
        });
        match (header, from_cookie) {
            (Some(h), Some(c)) if same(h, &self.token) && same(c, &self.token) => Ok(()),
            _ => Err(Refused(
                "missing or wrong desk token: reload the page served by `ocb serve`",
            )),
        }
    }
}

/// Compare secrets in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard() -> Guard {
        Guard {
            port: 8123,
            token: "ab12".into(),
        }
    }

    #[test]
    fn host_must_be_this_server() {
        let g = guard();
        assert!(g.check_site(Some("127.0.0.1:8123"), None).is_ok());
        assert!(g.check_site(Some("LOCALHOST:8123"), None).is_ok());
        for bad in [
            "evil.example:8123",
            "127.0.0.1:8124",
            "127.0.0.1",
            "localhost",
        ] {
            assert!(g.check_site(Some(bad), None).is_err(), "{bad}");
        }
        assert!(g.check_site(None, None).is_err());
    }

    #[test]
    fn origin_when_present_must_be_this_server() {
        let g = guard();
        let host = Some("127.0.0.1:8123");
        assert!(g.check_site(host, Some("http://localhost:8123")).is_ok());
        for bad in [
            "http://evil.example",
            "null",
            "https://127.0.0.1:8123",
            "http://127.0.0.1:8123.evil.example",
        ] {
            assert!(g.check_site(host, Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn token_in_header_and_cookie() {
        let g = guard();
        let cookie = Some("x=1; ocb_desk_8123=ab12");
        assert!(g.check_token(Some("ab12"), cookie).is_ok());
        assert!(g.check_token(None, cookie).is_err());
        assert!(g.check_token(Some("ab12"), None).is_err());
        assert!(g.check_token(Some("ab13"), cookie).is_err());
        assert!(
            g.check_token(Some("ab12"), Some("ocb_desk_8124=ab12"))
                .is_err()
        );
    }
}
