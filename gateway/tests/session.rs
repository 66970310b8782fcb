//! Black-box tests of the web page's session: login and logout, the cookie's attributes, the
//! cookie as a credential of `/_oncelink/links` only from the gateway's own origin, and nothing
//! of it in the logs. The real binary, a real HTTP client sending the headers a browser would.

mod common;

use common::{Backend, Gateway, code};
use reqwest::Response;
use serde_json::{Value, json};

async fn status_and_code(r: Response) -> (u16, String) {
    let status = r.status().as_u16();
    (status, code(&r.bytes().await.unwrap()))
}

async fn json_of(r: Response) -> Value {
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_an_http_only_strict_cookie_and_refuses_wrong_tokens() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), &Backend::File, 0, &[]);
    let login = format!("{}/_oncelink/login", gw.base);

    // A form, as a <form method=post> sends it.
    let r = gw
        .http
        .post(&login)
        .header("origin", gw.origin())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", gw.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    let value = set_cookie.strip_prefix("oncelink_session=").unwrap().split(';').next().unwrap().to_owned();
    assert_eq!(set_cookie, format!("oncelink_session={value}; HttpOnly; SameSite=Strict; Path=/_oncelink/; Max-Age=43200"));
    let parts: Vec<&str> = value.split('.').collect();
    assert_eq!((parts.len(), parts[0]), (3, "v1"), "{value}");
    assert!(!value.contains(&gw.token));
    let body = json_of(r).await;
    assert_eq!(body["logged_in"], true);
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));

    // JSON, as the page sends it; no Origin (curl) is fine for a login.
    let r =
        gw.http.post(&login).header("content-type", "application/json").body(json!({"token": gw.token}).to_string()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);

    // A wrong token: 401 and no cookie.
    for body in [json!({"token": "wrong-token-wrong-token-wrong-to"}), json!({"token": format!("{}x", gw.token)})] {
        let r = gw
            .http
            .post(&login)
            .header("origin", gw.origin())
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("set-cookie").is_none());
        assert_eq!(status_and_code(r).await, (401, "unauthorized".into()));
    }
    // No token in the body, or a body of another type.
    for (content_type, body) in [("application/json", "{}"), ("application/x-www-form-urlencoded", "tok=1"), ("text/plain", "token=x")] {
        let r = gw.http.post(&login).header("content-type", content_type).body(body).send().await.unwrap();
        assert_eq!(status_and_code(r).await, (400, "invalid_login".into()), "{content_type} {body}");
    }
    // Too large. The gateway answers before it has read the body and closes the connection, so
    // this goes on a connection of its own (a pooled one could be reused while it closes).
    let once = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    let r = once.post(&login).header("content-type", "application/json").body(vec![b' '; 100_000]).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // Another page, or a sandboxed document (Origin: null), may not log the browser in.
    for origin in ["null", "https://evil.example", "http://localhost:1"] {
        let r = gw
            .http
            .post(&login)
            .header("origin", origin)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={}", gw.token))
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("set-cookie").is_none());
        assert_eq!(status_and_code(r).await, (403, "invalid_origin".into()), "{origin}");
    }

    // Logout deletes the cookie.
    let r = gw.http.post(format!("{}/_oncelink/logout", gw.base)).header("origin", gw.origin()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["set-cookie"], "oncelink_session=; HttpOnly; SameSite=Strict; Path=/_oncelink/; Max-Age=0");
    // Login is POST (or GET for the session's state); other methods are no route.
    let r = gw.http.put(&login).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (404, "not_found".into()));

    // Neither the token nor a session value is ever logged.
    let logs = gw.log();
    assert!(!logs.contains(&gw.token), "the API token leaked into the logs");
    assert!(!logs.contains(&value), "a session value leaked into the logs");
    assert!(
        logs.lines().any(|l| l.contains("\"route\":\"session\"") && l.contains("\"status\":401")),
        "a failed login leaves an access line"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_opens_the_api_only_from_the_own_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), &Backend::File, 0, &[]);
    let links = format!("{}/_oncelink/links", gw.base);
    let cookie = gw.login().await;
    let issue = |origin: Option<&str>, cookie: &str| {
        let mut r = gw
            .http
            .post(&links)
            .header("cookie", cookie)
            .header("content-type", "application/json")
            .body(json!({"key": "s.txt"}).to_string());
        if let Some(origin) = origin {
            r = r.header("origin", origin);
        }
        r.send()
    };

    // From the page: Origin is the gateway's own.
    let r = issue(Some(&gw.origin()), &cookie).await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    let link = json_of(r).await;
    let id = link["link_id"].as_str().unwrap();
    // A same-origin GET carries no Origin; the browser's Sec-Fetch-Site says where it is from.
    let state = format!("{links}/{id}");
    let r = gw.http.get(&state).header("cookie", &cookie).header("sec-fetch-site", "same-origin").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(json_of(r).await["uses"], 0);
    let r = gw
        .http
        .get(format!("{}/_oncelink/login", gw.base))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(r).await["logged_in"], true);

    // A sandboxed object document says Origin: null; other pages say theirs; a POST without
    // Origin is no browser's page. All refused, cookie or not.
    for origin in [Some("null"), Some("https://evil.example"), Some("http://localhost:1"), None] {
        let (status, code) = status_and_code(issue(origin, &cookie).await.unwrap()).await;
        assert_eq!((status, code.as_str()), (403, "invalid_origin"), "{origin:?}");
    }
    for site in [None, Some("cross-site"), Some("same-site")] {
        let mut r = gw.http.get(&state).header("cookie", &cookie);
        if let Some(site) = site {
            r = r.header("sec-fetch-site", site);
        }
        assert_eq!(status_and_code(r.send().await.unwrap()).await, (403, "invalid_origin".into()), "{site:?}");
    }
    let r = gw
        .http
        .get(&state)
        .header("cookie", &cookie)
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(r).await, (403, "invalid_origin".into()));

    // A tampered or foreign cookie, from the right origin: 401 invalid_session.
    let (name, value) = cookie.split_once('=').unwrap();
    let mut tampered = value.to_owned().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{name}={}", String::from_utf8(tampered).unwrap());
    let (expiry, mac) = value.strip_prefix("v1.").unwrap().split_once('.').unwrap();
    let extended = format!("{name}=v1.{}.{mac}", expiry.parse::<u64>().unwrap() + 60);
    for bad in [tampered, extended, format!("{name}=v1.1.AAAA"), format!("{name}={}", gw.token)] {
        assert_eq!(status_and_code(issue(Some(&gw.origin()), &bad).await.unwrap()).await, (401, "invalid_session".into()), "{bad}");
    }
    // No credential at all: 401 unauthorized, as before.
    let r = gw.http.post(&links).header("origin", gw.origin()).body(json!({"key": "s.txt"}).to_string()).send().await.unwrap();
    assert_eq!(status_and_code(r).await, (401, "unauthorized".into()));
    // A bearer token still works on its own, and a wrong one is not rescued by a good cookie.
    assert_eq!(gw.issue_raw(&json!({"key": "s.txt"})).await.0, 201);
    let r = gw
        .http
        .post(&links)
        .header("authorization", "Bearer wrong-token-wrong-token")
        .header("cookie", &cookie)
        .header("origin", gw.origin())
        .body(json!({"key": "s.txt"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_code(r).await, (401, "unauthorized".into()));
    // Preflights stay unauthenticated.
    let r = gw.http.request(reqwest::Method::OPTIONS, &links).header("origin", "https://app.example").send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);

    // Revoke with the session, then the value still works after a restart (stateless).
    let r = gw.http.delete(&state).header("cookie", &cookie).header("origin", gw.origin()).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let gw = gw.restart();
    let r = gw.http.get(&state).header("cookie", &cookie).header("sec-fetch-site", "same-origin").send().await.unwrap();
    assert_eq!(json_of(r).await["revoked"], true);
    assert!(!gw.log().contains(value), "a session value leaked into the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_public_url_makes_the_cookie_secure_and_is_the_only_origin() {
    let tmp = tempfile::tempdir().unwrap();
    let public = "https://files.example.com";
    // The banner shows the public URL, so the test picks the loopback port itself.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gw = Gateway::start(&tmp.path().join("data"), &Backend::File, port, &["--public-url", public]);
    let r = gw
        .http
        .post(format!("{}/_oncelink/login", gw.base))
        .header("origin", public)
        .header("content-type", "application/json")
        .body(json!({"token": gw.token}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set_cookie.ends_with("; Max-Age=43200; Secure"), "{set_cookie}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let issue = |origin: &str| {
        gw.http
            .post(format!("{}/_oncelink/links", gw.base))
            .header("cookie", &cookie)
            .header("origin", origin)
            .body(json!({"key": "s.txt"}).to_string())
            .send()
    };
    assert_eq!(issue("https://files.example.com").await.unwrap().status().as_u16(), 201);
    // The address it listens on is not the origin its page is served from.
    for origin in [gw.base.as_str(), "http://files.example.com", "https://files.example.com:8443"] {
        assert_eq!(status_and_code(issue(origin).await.unwrap()).await, (403, "invalid_origin".into()), "{origin}");
    }
    let r = gw.http.post(format!("{}/_oncelink/logout", gw.base)).send().await.unwrap();
    assert!(r.headers()["set-cookie"].to_str().unwrap().ends_with("; Max-Age=0; Secure"));
}
