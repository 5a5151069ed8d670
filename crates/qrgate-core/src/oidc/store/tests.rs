use super::*;

pub(super) fn code_grant() -> CodeGrant {
    CodeGrant {
        client_id: "app".into(),
        redirect_uri: "https://app.example/cb".into(),
        user: "alice".into(),
        subject: "alice".into(),
        key: String::new(),
        family: "fam".into(),
        scope: vec!["openid".into()],
        nonce: None,
        code_challenge: None,
        auth_time: 1,
        acr: None,
        expires_ms: 60_000,
    }
}

pub(super) fn grant(id: &str) -> Grant {
    Grant {
        id: id.into(),
        client_id: "app".into(),
        user: "alice".into(),
        subject: "alice".into(),
        key: String::new(),
        family: "fam".into(),
        scope: vec!["openid".into()],
        auth_time: 1,
        acr: None,
        expires_ms: 1_000_000,
        created_ms: 0,
        from: String::new(),
        name: String::new(),
        origins: Vec::new(),
        last_used_ms: 0,
        last_from: String::new(),
    }
}

pub(super) fn issue(n: u8) -> Issue {
    Issue {
        scope: vec!["openid".into()],
        refresh: Some([n; 32]),
        access: [n + 100; 32],
        access_expires_ms: 500_000,
    }
}

#[tokio::test]
async fn a_code_is_redeemed_once_and_a_second_redemption_revokes_the_grant() {
    let store = MemoryOidc::default();
    store.put_code([9; 32], code_grant(), 0).await.expect("put");
    assert_eq!(
        store.code([9; 32], 1).await.expect("peek"),
        Some(code_grant())
    );
    assert_eq!(
        store
            .redeem([9; 32], grant("g1"), issue(1), 1)
            .await
            .expect("redeem"),
        Redeemed::Issued { evicted: vec![] }
    );
    assert!(store.access([101; 32], 2).await.expect("a").is_some());
    assert_eq!(store.code([9; 32], 2).await.expect("peek"), None, "used");
    assert_eq!(
        store.replayed([8; 32], "app").await.expect("replay"),
        None,
        "no such code"
    );
    assert_eq!(
        store.replayed([9; 32], "other").await.expect("replay"),
        None,
        "another client presenting it revokes nothing"
    );
    assert!(store.access([101; 32], 2).await.expect("a").is_some());
    assert_eq!(
        store.replayed([9; 32], "app").await.expect("replay"),
        Some(Replayed {
            grant_id: "g1".into(),
            ended: Some(grant("g1")),
        }),
        "the step that ends the grant answers with it"
    );
    assert!(
        store.access([101; 32], 2).await.expect("a").is_none(),
        "revoked"
    );
    assert_eq!(
        store
            .redeem([9; 32], grant("g2"), issue(2), 3)
            .await
            .expect("again"),
        Redeemed::Reused {
            grant_id: Some("g1".into()),
            ended: vec![],
        },
        "ended before: nobody is told twice"
    );
    assert!(
        store.access([101; 32], 4).await.expect("a").is_none(),
        "revoked"
    );
    assert!(
        store.access([102; 32], 4).await.expect("a").is_none(),
        "never issued"
    );
    assert_eq!(
        store.refresh([1; 32], "app", issue(3), 5).await.expect("r"),
        Refreshed::Unknown
    );
}

#[tokio::test]
async fn an_expired_or_unknown_code_redeems_nothing() {
    let store = MemoryOidc::default();
    store.put_code([9; 32], code_grant(), 0).await.expect("put");
    assert_eq!(store.code([9; 32], 60_000).await.expect("peek"), None);
    assert_eq!(
        store
            .redeem([9; 32], grant("g"), issue(1), 60_000)
            .await
            .expect("r"),
        Redeemed::Unknown
    );
    assert_eq!(
        store
            .redeem([8; 32], grant("g"), issue(1), 1)
            .await
            .expect("r"),
        Redeemed::Unknown
    );
    assert!(store.access([101; 32], 1).await.expect("a").is_none());
}

#[tokio::test]
async fn refresh_tokens_rotate_and_a_rotated_out_one_revokes_the_family() {
    let store = MemoryOidc::default();
    store.put_code([9; 32], code_grant(), 0).await.expect("put");
    store
        .redeem([9; 32], grant("g1"), issue(1), 1)
        .await
        .expect("redeem");
    assert_eq!(
        store
            .refresh([1; 32], "other", issue(2), 2)
            .await
            .expect("r"),
        Refreshed::Unknown,
        "another client's token"
    );
    let Refreshed::Rotated(g) = store.refresh([1; 32], "app", issue(2), 2).await.expect("r") else {
        panic!("not rotated");
    };
    assert_eq!(g.id, "g1");
    assert!(store.access([102; 32], 3).await.expect("a").is_some());
    // The first token again: reuse, and everything of the grant ends.
    assert_eq!(
        store.refresh([1; 32], "app", issue(3), 3).await.expect("r"),
        Refreshed::Reused {
            grant_id: "g1".into(),
            ended: Some(g),
        }
    );
    assert_eq!(
        store.refresh([2; 32], "app", issue(4), 4).await.expect("r"),
        Refreshed::Unknown,
        "the newest one ended with its family"
    );
    assert!(store.access([101; 32], 4).await.expect("a").is_none());
    assert!(store.access([102; 32], 4).await.expect("a").is_none());
}

#[tokio::test]
async fn ending_a_family_revokes_each_of_its_grants_only() {
    let store = MemoryOidc::default();
    for (n, fam) in [(1u8, "fam"), (2, "fam"), (3, "other")] {
        let mut c = code_grant();
        c.family = fam.into();
        store.put_code([n; 32], c, 0).await.expect("put");
        let mut g = grant(&format!("g{n}"));
        g.family = fam.into();
        store.redeem([n; 32], g, issue(n), 1).await.expect("redeem");
    }
    let mut ended: Vec<String> = store
        .end_family("fam", 1, 100)
        .await
        .expect("end")
        .into_iter()
        .map(|g| g.id)
        .collect();
    ended.sort();
    assert_eq!(ended, ["g1", "g2"]);
    assert!(store.access([101; 32], 2).await.expect("a").is_none());
    assert!(store.access([102; 32], 2).await.expect("a").is_none());
    assert!(store.access([103; 32], 2).await.expect("a").is_some());
    assert!(store
        .end_family("fam", 2, 100)
        .await
        .expect("end")
        .is_empty());
}

#[tokio::test]
async fn an_ended_family_redeems_no_code_and_refreshes_no_grant() {
    let store = MemoryOidc::default();
    store.put_code([1; 32], code_grant(), 0).await.expect("put");
    store.put_code([2; 32], code_grant(), 0).await.expect("put");
    store
        .redeem([1; 32], grant("g1"), issue(1), 1)
        .await
        .expect("redeem");
    assert_eq!(
        store.end_family("fam", 2, 1_000).await.expect("end").len(),
        1
    );
    assert_eq!(
        store.code([2; 32], 3).await.expect("peek"),
        None,
        "code gone"
    );
    assert_eq!(
        store
            .redeem([2; 32], grant("g2"), issue(2), 3)
            .await
            .expect("r"),
        Redeemed::Unknown
    );
    // A code of the family that reached the store some other way is refused too.
    store.put_code([3; 32], code_grant(), 3).await.expect("put");
    assert_eq!(store.code([3; 32], 4).await.expect("peek"), None);
    assert_eq!(
        store
            .redeem([3; 32], grant("g3"), issue(3), 4)
            .await
            .expect("r"),
        Redeemed::Unknown
    );
    assert_eq!(
        store.refresh([1; 32], "app", issue(4), 5).await.expect("r"),
        Refreshed::Unknown
    );
}

#[tokio::test]
async fn a_refresh_is_peeked_without_change_and_its_scope_narrowed() {
    let store = MemoryOidc::default();
    store.put_code([9; 32], code_grant(), 0).await.expect("put");
    let mut g = grant("g1");
    g.scope = vec!["openid".into(), "email".into()];
    store.redeem([9; 32], g, issue(1), 1).await.expect("redeem");
    let peeked = store.peek_refresh([1; 32], "app", 2).await.expect("p");
    assert!(
        matches!(&peeked, Some((g, true)) if g.id == "g1"),
        "{peeked:?}"
    );
    assert_eq!(
        store.peek_refresh([1; 32], "other", 2).await.expect("p"),
        None
    );
    assert!(
        store
            .peek_refresh([1; 32], "app", 2)
            .await
            .expect("p")
            .is_some(),
        "unchanged"
    );
    let narrow = Issue {
        scope: vec!["openid".into()],
        ..issue(2)
    };
    assert!(matches!(
        store.refresh([1; 32], "app", narrow, 3).await.expect("r"),
        Refreshed::Rotated(_)
    ));
    let a = store.access([102; 32], 4).await.expect("a").expect("live");
    assert_eq!(a.scope, ["openid"]);
    assert!(matches!(
        store.peek_refresh([1; 32], "app", 4).await.expect("p"),
        Some((_, false))
    ));
}

#[tokio::test]
async fn the_grants_a_test_picks_end_and_are_named() {
    let store = MemoryOidc::default();
    store.put_code([9; 32], code_grant(), 0).await.expect("put");
    store
        .redeem([9; 32], grant("g1"), issue(1), 1)
        .await
        .expect("redeem");
    let none = |_: &Grant| false;
    assert!(store.end_where(&none).await.expect("end").is_empty());
    assert!(store.access([101; 32], 2).await.expect("a").is_some());
    let g1 = |g: &Grant| g.id == "g1";
    let ended: Vec<String> = store
        .end_where(&g1)
        .await
        .expect("end")
        .into_iter()
        .map(|g| g.id)
        .collect();
    assert_eq!(ended, ["g1"]);
    assert!(store.access([101; 32], 2).await.expect("a").is_none());
    assert_eq!(
        store.refresh([1; 32], "app", issue(2), 3).await.expect("r"),
        Refreshed::Unknown
    );
    assert!(store.end_where(&g1).await.expect("end").is_empty(), "once");
}

#[tokio::test]
async fn a_step_up_ticket_is_taken_once_and_only_while_live() {
    let store = MemoryOidc::default();
    let t = StepUpTicket {
        family: "fam".into(),
        client_id: "app".into(),
        redirect_uri: "https://app.example/cb".into(),
        after: 5,
        expires_ms: 10_000,
    };
    store.put_ticket([1; 32], t.clone(), 1).await.expect("put");
    store.put_ticket([2; 32], t.clone(), 1).await.expect("put");
    assert_eq!(store.take_ticket([3; 32], 2).await.expect("t"), None);
    assert_eq!(store.take_ticket([1; 32], 2).await.expect("t"), Some(t));
    assert_eq!(
        store.take_ticket([1; 32], 3).await.expect("t"),
        None,
        "once"
    );
    assert_eq!(
        store.take_ticket([2; 32], 10_000).await.expect("t"),
        None,
        "expired"
    );
}

#[tokio::test]
async fn access_tokens_expire_and_the_sweep_frees_them() {
    let store = MemoryOidc::default();
    store.put_code([9; 32], code_grant(), 0).await.expect("put");
    store
        .redeem([9; 32], grant("g1"), issue(1), 1)
        .await
        .expect("redeem");
    assert!(store.access([101; 32], 500_000).await.expect("a").is_none());
    assert!(store.sweep(1_000_001).await >= 3);
    assert!(hash_of(&mint()).is_some());
    assert!(hash_of("short").is_none());
}

#[tokio::test]
async fn a_users_live_grants_are_listed_at_the_clients_asked_about() {
    let store = MemoryOidc::default();
    store.put_code([1; 32], code_grant(), 0).await.expect("put");
    let g = Grant {
        created_ms: 5,
        ..grant("g1")
    };
    store.redeem([1; 32], g, issue(1), 1).await.expect("redeem");
    let apps = ["app".to_string()];
    let listed = store.grants_of("alice", &apps, 2).await.expect("list");
    assert_eq!(
        listed.iter().map(|g| g.id.as_str()).collect::<Vec<_>>(),
        ["g1"]
    );
    assert!(store
        .grants_of("bob", &apps, 2)
        .await
        .expect("list")
        .is_empty());
    assert!(store
        .grants_of("alice", &["other".to_string()], 2)
        .await
        .expect("list")
        .is_empty());
    assert!(
        store
            .grants_of("alice", &apps, 1_000_000)
            .await
            .expect("list")
            .is_empty(),
        "an ended grant is not listed"
    );
    store.revoke_grant("g1").await.expect("revoke");
    assert!(store
        .grants_of("alice", &apps, 2)
        .await
        .expect("list")
        .is_empty());
}

#[tokio::test]
async fn a_tokens_use_is_recorded_on_its_live_grant_only() {
    let store = MemoryOidc::default();
    store.put_code([9; 32], code_grant(), 0).await.expect("put");
    store
        .redeem([9; 32], grant("g1"), issue(1), 1)
        .await
        .expect("redeem");
    async fn listed(store: &MemoryOidc) -> Vec<Grant> {
        store
            .grants_of("alice", &["app".to_string()], 2)
            .await
            .expect("list")
    }
    assert_eq!(listed(&store).await[0].last_used_ms, 0);
    store
        .touch([101; 32], 5_000, "192.0.2.1")
        .await
        .expect("touch");
    let g = &listed(&store).await[0];
    assert_eq!((g.last_used_ms, g.last_from.as_str()), (5_000, "192.0.2.1"));
    // An unknown token, and one of a revoked grant, record nothing.
    store.touch([7; 32], 6_000, "x").await.expect("touch");
    store.revoke_grant("g1").await.expect("revoke");
    store.touch([101; 32], 7_000, "y").await.expect("touch");
    assert!(listed(&store).await.is_empty());
}

/// A person's personal tokens: the bound refuses, never evicts, and counts live ones only.
#[tokio::test]
async fn the_personal_token_bound_refuses_and_counts_live_tokens_only() {
    let store = MemoryOidc::default();
    let make = |n: u8, expires_ms: u64| {
        let store = &store;
        async move {
            let code = [n; 32];
            store.put_code(code, code_grant(), 0).await.expect("put");
            let g = Grant {
                client_id: "app".into(),
                name: format!("t{n}"),
                expires_ms,
                ..grant(&format!("p{n}"))
            };
            let mut i = issue(n);
            i.refresh = None;
            store.redeem(code, g, i, 1).await.expect("redeem")
        }
    };
    let max = u8::try_from(MAX_GRANTS).expect("small");
    for n in 0..max {
        // One of them lives briefly.
        let expires = if n == 3 { 50 } else { 1_000_000 };
        assert_eq!(make(n, expires).await, Redeemed::Issued { evicted: vec![] });
    }
    assert_eq!(make(100, 1_000_000).await, Redeemed::Full, "at the bound");
    assert!(store.revoke_grant("p0").await.expect("revoke").is_some());
    assert_eq!(
        make(101, 1_000_000).await,
        Redeemed::Issued { evicted: vec![] }
    );
    assert_eq!(make(102, 1_000_000).await, Redeemed::Full);
    // Live tokens only: p3's end frees a place (the redemption at 1 ms sees it live, so it
    // is made past its end).
    let code = [103; 32];
    store.put_code(code, code_grant(), 0).await.expect("put");
    let g = Grant {
        client_id: "app".into(),
        name: "t103".into(),
        ..grant("p103")
    };
    let mut i = issue(103);
    i.refresh = None;
    assert_eq!(
        store.redeem(code, g, i, 60).await.expect("redeem"),
        Redeemed::Issued { evicted: vec![] }
    );
    // Every other token still stands.
    for n in (1..max).filter(|n| *n != 3) {
        assert!(
            store.access([n + 100; 32], 61).await.expect("a").is_some(),
            "p{n}"
        );
    }
}
