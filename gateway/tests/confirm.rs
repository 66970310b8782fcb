//! Confirm links through the real gateway: the page and the click are answered by the gateway
//! itself (the click's POST never reaches the origin), and only the click's follow-up spends.
//!
//! Every case runs on each ledger, as in `blackbox.rs`.

mod common;

use common::{Backend, Gateway, bytes, code};
use reqwest::Client;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

both_ledgers!(
    a_visit_and_a_click_spend_nothing_the_follow_up_downloads_once,
    a_click_from_elsewhere_or_on_a_plain_link_is_refused,
    confirm_is_issued_for_sealed_get_links_only,
);

/// A client that shows every answer as it is (no redirects followed, no cookie jar).
fn client() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).user_agent("Mozilla/5.0 (X11; Linux x86_64)").build().unwrap()
}

async fn uses(gw: &Gateway, id: &str) -> u64 {
    gw.state(id).await["uses"].as_u64().unwrap()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} header"))
}

async fn a_visit_and_a_click_spend_nothing_the_follow_up_downloads_once(gw: Gateway) {
    let data = bytes(200_000, 7);
    gw.store("contracts/signed.pdf", data.clone()).await;
    let link = gw.issue(json!({"key": "contracts/signed.pdf", "confirm": true, "filename": "Contract <2026>.pdf"})).await;
    assert_eq!(link["confirm"], true);
    let (url, id) = (link["url"].as_str().unwrap().to_owned(), link["link_id"].as_str().unwrap().to_owned());
    let target = url.strip_prefix(&gw.base).unwrap().to_owned();
    let http = client();

    // A visit: the page, however often; HEAD too. Nothing spent, nothing written.
    for _ in 0..3 {
        let r = http.get(&url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let headers = r.headers().clone();
        assert_eq!(header(&headers, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&headers, "cache-control"), "no-store, private");
        assert_eq!(header(&headers, "x-robots-tag"), "noindex, nofollow");
        assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
        assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
        assert_eq!(header(&headers, "content-security-policy"), oncelink::confirm::page::PAGE_CSP);
        assert!(headers.get("set-cookie").is_none());
        let page = r.text().await.unwrap();
        assert!(page.contains(&format!(r#"<form method="post" action="{target}">"#)), "{page}");
        assert!(page.contains("Contract &lt;2026&gt;.pdf") && !page.contains("<script") && !page.contains("href"));
    }
    let head = http.head(&url).send().await.unwrap();
    assert_eq!((head.status().as_u16(), header(head.headers(), "content-type")), (200, "text/html; charset=utf-8"));
    assert_eq!(uses(&gw, &id).await, 0, "a visit spends nothing");

    // The click (a form body, as a browser may send one): 303 back to the link with the proof.
    let r = http
        .post(&url)
        .header("origin", gw.origin())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("x=1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303);
    assert_eq!(header(r.headers(), "location"), target);
    let set_cookie = header(r.headers(), "set-cookie").to_owned();
    assert!(set_cookie.starts_with("oncelink_confirm="), "{set_cookie}");
    assert!(
        set_cookie.ends_with("; Path=/contracts/signed.pdf; Max-Age=120; HttpOnly; SameSite=Lax"),
        "plain http: not Secure: {set_cookie}"
    );
    assert_eq!(uses(&gw, &id).await, 0, "a click spends nothing");
    let proof = set_cookie.split(';').next().unwrap().to_owned();

    // The click's follow-up downloads the object, once.
    let follow_up = || http.get(&url).header("cookie", format!("theme=dark; {proof}")).header("sec-fetch-site", "same-origin").send();
    let r = follow_up().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.unwrap() == data, "the download differs from what was stored");
    assert_eq!(uses(&gw, &id).await, 1);
    let r = follow_up().await.unwrap();
    assert_eq!((r.status().as_u16(), code(&r.bytes().await.unwrap())), (403, "link_already_used".into()));
    // A new visit (the browser says so) sees the page again; a click then a follow-up: 403.
    let again = http.get(&url).header("cookie", proof.clone()).header("sec-fetch-site", "none").send().await.unwrap();
    assert_eq!((again.status().as_u16(), header(again.headers(), "content-type")), (200, "text/html; charset=utf-8"));
    assert_eq!(uses(&gw, &id).await, 1);

    // The access lines: no POST ever went upstream, and no token or proof is in the log.
    let log = gw.log();
    let posts: Vec<&str> = log.lines().filter(|l| l.contains(r#""method":"POST""#) && l.contains(r#""route":"link""#)).collect();
    assert!(!posts.is_empty(), "the click's access line");
    assert!(posts.iter().all(|l| !l.contains("upstream_status")), "a POST reached the origin: {posts:?}");
    let token = url.split_once('?').unwrap().1;
    let proof_value = proof.split_once('=').unwrap().1;
    assert!(!log.contains(token) && !log.contains(proof_value), "the log holds the link's token or the proof");
}

async fn a_click_from_elsewhere_or_on_a_plain_link_is_refused(gw: Gateway) {
    gw.store("a.txt", b"abc".to_vec()).await;
    let link = gw.issue(json!({"key": "a.txt", "confirm": true})).await;
    let (url, id) = (link["url"].as_str().unwrap().to_owned(), link["link_id"].as_str().unwrap().to_owned());
    let http = client();
    for (name, value) in [("origin", "http://evil.example"), ("origin", "null"), ("sec-fetch-site", "cross-site"), ("x-none", "1")] {
        let r = http.post(&url).header(name, value).send().await.unwrap();
        assert_eq!((r.status().as_u16(), code(&r.bytes().await.unwrap())), (403, "confirm_cross_site".into()), "{name}: {value}");
    }
    // A click that announces more than a small form: refused; nothing reached the origin either way.
    let big = http.post(&url).header("origin", gw.origin()).body(vec![b'x'; 4096]).send().await.unwrap();
    assert_eq!((big.status().as_u16(), code(&big.bytes().await.unwrap())), (400, "body_not_allowed".into()));
    // A proof for another link opens nothing.
    let other = gw.issue(json!({"key": "a.txt", "confirm": true})).await;
    let r = http.post(other["url"].as_str().unwrap()).header("origin", gw.origin()).send().await.unwrap();
    let proof = header(r.headers(), "set-cookie").split(';').next().unwrap().to_owned();
    let r = http.get(&url).header("cookie", proof).send().await.unwrap();
    assert_eq!((r.status().as_u16(), header(r.headers(), "content-type")), (200, "text/html; charset=utf-8"));
    assert_eq!(uses(&gw, &id).await, 0);
    // A link without confirm is not a page: POST stays 405, GET downloads.
    let plain = gw.url(json!({"key": "a.txt"})).await;
    let r = http.post(&plain).header("origin", gw.origin()).send().await.unwrap();
    assert_eq!((r.status().as_u16(), code(&r.bytes().await.unwrap())), (405, "method_not_allowed".into()));
    assert_eq!(gw.get(&plain).await, (200, b"abc".to_vec()));
}

async fn confirm_is_issued_for_sealed_get_links_only(gw: Gateway) {
    let (status, answer) = gw.issue_raw(&json!({"key": "u.bin", "method": "PUT", "confirm": true})).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("confirm_not_for_uploads")));
    let plain = gw.issue(json!({"key": "a.txt"})).await;
    assert!(plain.get("confirm").is_none(), "a plain link's answer is unchanged: {plain}");
    let r = gw
        .http
        .get(format!("{}/_oncelink/links?key=a.txt&confirm=1", gw.base))
        .header("authorization", format!("Bearer {}", gw.token))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let answer: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(answer["confirm"], true);
}

/// Presigned mode has no key set to prove a click with: confirm is refused at issue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presigned_gateways_refuse_confirm_links() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = Gateway::start(&tmp.path().join("data"), &Backend::File, 0, &["--mode", "presigned"]);
    let (status, answer) = gw.issue_raw(&json!({"key": "a.txt", "confirm": true})).await;
    assert_eq!((status, answer["error"].as_str()), (400, Some("confirm_needs_sealed")));
}
