//! Accounts, sessions and tokens end to end over HTTP against the local
//! stack: the whole login flow, revocation seen on the very next request,
//! the refresh cookie, sessions, and every documented error.

use serde_json::{Value, json};

use crate::helpers::{Api, PASSWORD, credentials, unique_email};

#[test]
fn the_whole_flow_register_login_refresh_logout() {
    let api = Api::new();
    let email = unique_email();

    let registered = api.register(&json!({"email": email, "password": PASSWORD, "name": "Ada"}));
    assert_eq!(registered.status, 201, "{}", registered.body);
    let user = registered.body;
    assert_eq!(user["email"], email);
    assert_eq!(user["name"], "Ada");
    assert!(user["created_at"].as_str().unwrap().ends_with('Z'));

    let tokens = api.login_as(&email);
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();

    let me = api.me(&access);
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.body["user_id"], user["user_id"]);

    let refreshed = api.refresh(&refresh);
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let rotated = refreshed.body;
    assert_ne!(
        rotated["refresh_token"], tokens["refresh_token"],
        "refresh rotates"
    );
    assert_eq!(rotated["session_id"], tokens["session_id"]);
    let access2 = rotated["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.me(&access2).status, 200);

    assert_eq!(api.logout(&access2).status, 204);
    // Refused on the very next request, not when the token expires.
    let refused = api.me(&access2);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["code"], "invalid_token");
    assert_eq!(api.me(&access).status, 401, "every token of the session");
    let refused = api.refresh(&refresh);
    assert_eq!(refused.status, 401);
    assert_eq!(refused.body["code"], "invalid_refresh_token");
    assert_eq!(
        api.refresh(rotated["refresh_token"].as_str().unwrap())
            .status,
        401,
        "the session is over"
    );
}

#[test]
fn registration_errors_are_documented() {
    let api = Api::new();
    let email = api.new_account();
    let taken = api.register(&credentials(&email.to_uppercase()));
    assert_eq!(
        (taken.status, taken.body["code"].as_str()),
        (409, Some("email_taken")),
        "emails are normalised"
    );

    for (body, code) in [
        (
            json!({"email": "not-an-email", "password": PASSWORD}),
            "invalid_email",
        ),
        (
            json!({"email": unique_email(), "password": "elevenchars"}),
            "invalid_password",
        ),
        (
            json!({"email": unique_email(), "password": PASSWORD, "admin": true}),
            "invalid_body",
        ),
        (json!({"email": unique_email()}), "invalid_body"),
        (json!({"email": 5, "password": PASSWORD}), "invalid_body"),
        (
            json!({"email": unique_email(), "password": PASSWORD, "name": "x".repeat(101)}),
            "invalid_name",
        ),
    ] {
        let refused = api.register(&body);
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (400, Some(code)),
            "{body}"
        );
        assert_eq!(refused.body["status"], 400);
        let text = refused.body.to_string();
        assert!(
            !text.contains(PASSWORD) && !text.contains("elevenchars"),
            "never echo a password: {text}"
        );
    }
}

#[test]
fn two_parallel_registrations_of_one_email_give_one_201_and_one_409() {
    let email = unique_email();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| scope.spawn(|| Api::new().register(&credentials(&email)).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = statuses.clone();
    sorted.sort();
    assert_eq!(sorted, vec![201, 409], "{statuses:?}");
}

#[test]
fn login_gives_one_answer_for_unknown_email_and_wrong_password() {
    let api = Api::new();
    let email = api.new_account();
    let wrong = api.login(&json!({"email": email, "password": "wrong password!"}));
    assert_eq!(wrong.status, 401);
    let unknown = api.login(&credentials(&unique_email()));
    assert_eq!(unknown.status, 401);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.body["code"], "invalid_credentials");
}

/// A new user's login: its first `Set-Cookie`, the refresh cookie.
fn login_cookie(api: &Api) -> String {
    let email = api.new_account();
    let reply = api.login(&credentials(&email));
    reply.header("set-cookie").unwrap().to_string()
}

#[test]
fn login_sets_a_host_only_refresh_cookie_that_refresh_accepts() {
    let api = Api::new();
    let cookie = login_cookie(&api);
    assert!(cookie.starts_with("__Host-refresh_token="), "{cookie}");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
    }
    assert!(
        !cookie.contains("Domain="),
        "__Host- cookies carry no Domain"
    );
    let pair = cookie.split(';').next().unwrap();
    let refreshed = api.refresh_with_cookie(pair);
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
}

#[test]
fn the_refresh_cookie_works_only_from_the_apis_own_origin_or_an_allowed_one() {
    let api = Api::new();
    let cookie = login_cookie(&api);
    let pair = cookie.split(';').next().unwrap();
    // A sibling subdomain is the same site: SameSite=Strict sends the cookie.
    for refused in [
        vec![],
        vec![
            ("sec-fetch-site", "same-site"),
            ("origin", "https://evil.example.com"),
        ],
        vec![
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://attacker.test"),
        ],
    ] {
        let reply = api.refresh_with_cookie_from(pair, &refused);
        assert_eq!(reply.status, 403, "{refused:?}: {}", reply.body);
        assert_eq!(reply.body["code"], "origin_not_allowed");
    }
    // Refused before anything was read: the token is still good.
    let reply = api.refresh_with_cookie(pair);
    assert_eq!(reply.status, 200, "{}", reply.body);
}

#[test]
fn logout_all_ends_every_session() {
    let api = Api::new();
    let email = api.new_account();
    let first = api.login_as(&email);
    let second = api.login_as(&email);
    let token = |t: &Value| t["access_token"].as_str().unwrap().to_string();
    assert_eq!(api.logout_all(&token(&first)).status, 204);
    for tokens in [&first, &second] {
        assert_eq!(api.me(&token(tokens)).status, 401);
        let refresh = tokens["refresh_token"].as_str().unwrap();
        assert_eq!(api.refresh(refresh).status, 401);
    }
    // A new login works again.
    let third = api.login_as(&email);
    assert_eq!(api.me(&token(&third)).status, 200);
}

#[test]
fn sessions_are_listed_and_ended_one_by_one() {
    let api = Api::new();
    let email = api.new_account();
    let first = api.login_as(&email);
    let second = api.login_as(&email);
    let access = first["access_token"].as_str().unwrap();
    let list = api.list_sessions(access);
    assert_eq!(list.status, 200);
    let sessions = list.body["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["session_id"], first["session_id"]);
    for field in [
        "created_at",
        "last_seen_at",
        "expires_at",
        "user_agent",
        "ip",
    ] {
        assert!(sessions[0].get(field).is_some(), "{field}");
    }

    let other = second["session_id"].as_str().unwrap();
    assert_eq!(api.delete_session(access, other).status, 204);
    assert_eq!(api.me(second["access_token"].as_str().unwrap()).status, 401);
    assert_eq!(api.delete_session(access, other).status, 404);

    // Someone else's session is 404, and stays alive.
    let stranger = api.new_account();
    let theirs = api.login_as(&stranger);
    let refused = api.delete_session(access, theirs["session_id"].as_str().unwrap());
    assert_eq!(
        (refused.status, refused.body["code"].as_str()),
        (404, Some("not_found"))
    );
    assert_eq!(api.me(theirs["access_token"].as_str().unwrap()).status, 200);
    assert_eq!(api.delete_session(access, "not-an-id").status, 404);
}

#[test]
fn no_response_or_log_line_contains_a_password_token_or_key() {
    let api = Api::new();
    let email = unique_email();
    let password = format!("secret-{}", shared::ids::new_id());
    let account = json!({"email": email, "password": password});
    let mut responses = Vec::new();
    let registered = api.register(&account);
    assert_eq!(registered.status, 201);
    responses.push(registered.body);
    responses.push(
        api.login(&json!({"email": email, "password": format!("{password}x")}))
            .body,
    );
    responses.push(api.register(&account).body);
    let login = api.login(&account);
    assert_eq!(login.status, 200, "login: {}", login.body);
    let tokens = login.body;
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    let rotated = api.refresh(&refresh).body;
    responses.push(api.me(&access).body);
    // Inside the grace, the token just rotated away answers with its
    // successor again (the client lost that answer): by design, not an echo.
    let replayed = api.refresh(&refresh).body;
    assert_eq!(replayed["refresh_token"], rotated["refresh_token"]);
    responses.push(api.me(&format!("{access}x")).body);
    responses.push(api.logout(rotated["access_token"].as_str().unwrap()).body);

    let secrets = [
        password.clone(),
        access.clone(),
        refresh.clone(),
        rotated["access_token"].as_str().unwrap().to_string(),
        rotated["refresh_token"].as_str().unwrap().to_string(),
    ];
    for response in &responses {
        let text = response.to_string();
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "a response echoes a secret: {text}"
            );
        }
    }

    let stack = xtask::stack::StackInfo::from_env().unwrap();
    let log = std::fs::read_to_string(stack.logs_dir.join("functions.log")).unwrap();
    assert!(
        log.contains("session opened"),
        "the functions' logs are captured"
    );
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a log line contains a password or token"
        );
    }
    assert!(
        !log.contains("private_key_pkcs8"),
        "a log line contains the signing key"
    );
}

#[test]
fn authenticated_routes_refuse_missing_and_garbage_tokens() {
    let api = Api::new();
    for (method, path) in [
        ("POST", "/auth/logout"),
        ("POST", "/auth/logout-all"),
        ("DELETE", "/auth/sessions/AAAAAAAAAAAAAAAAAAAAAA"),
    ] {
        // No token at all: the request's shape is the subject.
        let refused = api.send(method, path, None, &[], None);
        assert_eq!(
            (refused.status, refused.body["code"].as_str()),
            (401, Some("invalid_token")),
            "{method} {path}"
        );
    }
    for path in ["/me", "/auth/sessions"] {
        for token in [None, Some("garbage"), Some("a.b.c")] {
            let reply = api.send("GET", path, token, &[], None);
            assert_eq!(reply.status, 401, "{path} {token:?}");
            assert_eq!(
                reply.header("www-authenticate"),
                Some(r#"Bearer error="invalid_token""#)
            );
        }
    }
}

#[test]
fn the_jwks_has_public_keys_only_and_is_cacheable() {
    let api = Api::new();
    let reply = api.jwks();
    assert_eq!(reply.status, 200);
    assert!(reply.header("cache-control").unwrap().contains("max-age"));
    let keys = reply.body["keys"].as_array().unwrap();
    assert!(!keys.is_empty());
    for key in keys {
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert!(key.get("d").is_none(), "never a private part");
        assert!(key["kid"].is_string());
    }
}

/// The reads that answer alongside the caller's check (their item is read
/// in the same wave as the token's standing) still answer a logged-out
/// token with the 401 alone: nothing of what they read leaks.
#[test]
fn reads_made_alongside_the_check_answer_a_revoked_token_401_and_show_nothing() {
    let api = Api::new();
    let (email, token) = api.new_user();
    let upload = api.create_upload(
        &token,
        &json!({"filename": "notes.txt", "content_type": "text/plain", "size": 5}),
    );
    assert_eq!(upload.status, 201, "{}", upload.body);
    let upload_id = upload.body["upload_id"].as_str().unwrap().to_string();
    let job = api.create_job(&token, &json!({"type": "export"}));
    assert_eq!(job.status, 202, "{}", job.body);
    let job_id = job.body["job_id"].as_str().unwrap().to_string();
    let reads = |token: &str| {
        [
            ("GET /me", api.me(token)),
            ("GET /cart", api.get_cart(token)),
            ("GET /uploads/{id}", api.get_upload(token, &upload_id)),
            ("GET /uploads", api.list_uploads(token, "")),
            ("GET /jobs/{id}", api.get_job(token, &job_id)),
            ("GET /jobs", api.list_jobs(token, "")),
            ("GET /auth/sessions", api.list_sessions(token)),
        ]
    };
    for (route, reply) in reads(&token) {
        assert_eq!(reply.status, 200, "{route}: {}", reply.body);
    }
    assert_eq!(api.logout(&token).status, 204);
    for (route, reply) in reads(&token) {
        assert_eq!(reply.status, 401, "{route}: {}", reply.body);
        assert_eq!(reply.body["code"], "invalid_token", "{route}");
        let shown = reply.body.to_string();
        for secret in [email.as_str(), &upload_id, &job_id, "notes.txt"] {
            assert!(!shown.contains(secret), "{route} showed {secret}: {shown}");
        }
    }
}
