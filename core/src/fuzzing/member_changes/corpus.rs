//! The seed inputs the corpus starts from: one short input per attack.

use super::{Who, header, op};

/// Seeds for the corpus, one per attack, each a short input in the byte layout above.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    use op::*;
    // Report selector bytes: 0 the nurse's report, 1 the doctor's, 4·i + 2 the i-th key.
    const OWN: u8 = 0;
    const OTHER: u8 = 1;
    let mut out: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut s = |name: &'static str, parts: &[&[u8]]| out.push((name, parts.concat()));
    s(
        "typed-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_TYPED, 1],
        ],
    );
    s(
        "typed-report-sync-message",
        &[
            &header(Who::Nurse, HONEST, SYNC_MESSAGE, 1, 0),
            &[NEW_REPORT_TYPED, 1],
        ],
    );
    s(
        "typed-comment-receipt-edit",
        &[
            &header(Who::Nurse, HONEST, IN_ORDER, 3, 0),
            &[
                COMMENT_TYPED,
                OTHER,
                RECEIPT_TYPED,
                OTHER,
                EDIT_TYPED,
                OWN,
                1,
            ],
        ],
    );
    s(
        "raw-report-complete",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 0, 0, 0, 0, 0],
        ],
    );
    s(
        "raw-report-upper-case-key",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 1, 0, 0, 0, 1],
        ],
    );
    // Fields byte 0b0111_1100: only `id` and `author`.
    s(
        "raw-report-id-author-only",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 0, 0x7c, 0, 0, 0],
        ],
    );
    s(
        "raw-report-as-doctor",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 0, 0, 1, 0, 0],
        ],
    );
    s(
        "raw-report-with-post-no",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 0, 0x80, 0, 0, 0],
        ],
    );
    s(
        "raw-report-over-other",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_RAW, 7, 0, 0, 0, 0],
        ],
    );
    s(
        "deep-nesting-3000",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[DEEP_NEST, OWN, 4],
        ],
    );
    s(
        "huge-content-string",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[EDIT_CONTENT_RAW, OWN, 2, 1, 4],
        ],
    );
    // SET_AUTHOR: target, field, value (6 = the doctor's professional id), report.
    s(
        "author-professional-own-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 0, 0, 6, OWN],
        ],
    );
    s(
        "author-name-own-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 0, 2, 0, OWN],
        ],
    );
    s(
        "author-device-other-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 1, 1, 9, OTHER],
        ],
    );
    s(
        "author-name-other-comment",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 2, 2, 0, OWN, 1],
        ],
    );
    s(
        "author-notice",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 3, 2, 0],
        ],
    );
    s(
        "author-message",
        &[
            &header(Who::Doctor, HONEST, CHANGES, 1, 0),
            &[SET_AUTHOR, 4, 0, 5],
        ],
    );
    s(
        "report-id-field",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[SET_REPORT_FIELD, OWN, 0, 0],
        ],
    );
    s(
        "relay-post-no",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[RELAY_WRITE, OWN, 0, 1],
        ],
    );
    s(
        "relay-received-at",
        &[
            &header(Who::Nurse, HONEST, SYNC_MESSAGE, 1, 0),
            &[RELAY_WRITE, OWN, 1, 4],
        ],
    );
    s(
        "receipt-for-other",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[RECEIPT_RAW, 0, 2, 0, OWN],
        ],
    );
    s(
        "receipt-reader-own",
        &[
            &header(Who::Reader, HONEST, CHANGES, 1, 0),
            &[RECEIPT_TYPED, OTHER],
        ],
    );
    s(
        "reader-comment",
        &[
            &header(Who::Reader, HONEST, CHANGES, 1, 0),
            &[COMMENT_TYPED, OTHER],
        ],
    );
    s(
        "comment-raw-upper-key",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[COMMENT_RAW, OTHER, 1, 0],
        ],
    );
    s(
        "edit-other-comment",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[EDIT_COMMENT, OWN, 1, 0, 0],
        ],
    );
    s(
        "delete-other-comment",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[DELETE_COMMENT, OWN, 1],
        ],
    );
    s(
        "delete-own-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[DELETE_REPORT, OWN],
        ],
    );
    s(
        "replace-own-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[REPLACE_REPORT, OWN, 0],
        ],
    );
    s(
        "edit-other-report",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[EDIT_CONTENT_RAW, OTHER, 2, 0],
        ],
    );
    s(
        "consent-as-nurse",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[WRITE_SECTION, 2, 0, 0],
        ],
    );
    s(
        "members-as-admin",
        &[
            &header(Who::Admin, HONEST, CHANGES, 1, 0),
            &[WRITE_SECTION, 1, 0, 0],
        ],
    );
    s(
        "kizuna-as-admin",
        &[
            &header(Who::Admin, HONEST, CHANGES, 1, 0),
            &[WRITE_SECTION, 0, 0, 0],
        ],
    );
    s(
        "profile-as-reader",
        &[
            &header(Who::Reader, HONEST, SYNC_MESSAGE, 1, 0),
            &[WRITE_SECTION, 3, 0, 0],
        ],
    );
    s(
        "wrong-actor",
        &[
            &header(Who::Nurse, WRONG_ACTOR, CHANGES, 1, 0),
            &[RECEIPT_TYPED, OTHER],
        ],
    );
    s(
        "wrong-note",
        &[
            &header(Who::Nurse, WRONG_NOTE, CHANGES, 1, 0),
            &[EDIT_CONTENT_RAW, OWN, 3, 0],
        ],
    );
    s(
        "no-note",
        &[
            &header(Who::Nurse, NO_NOTE, SYNC_MESSAGE, 1, 0),
            &[EDIT_CONTENT_RAW, OWN, 3, 0],
        ],
    );
    s(
        "bad-checksum",
        &[
            &header(Who::Nurse, BAD_CHECKSUM, CHANGES, 1, 0),
            &[RECEIPT_TYPED, OTHER],
        ],
    );
    s(
        "bad-checksum-sync-message",
        &[
            &header(Who::Nurse, BAD_CHECKSUM, SYNC_MESSAGE, 1, 0),
            &[RECEIPT_TYPED, OTHER],
        ],
    );
    s(
        "compressed-report",
        &[
            &header(Who::Nurse, HONEST, COMPRESSED + CHANGES, 1, 0),
            &[NEW_REPORT_TYPED, 2],
        ],
    );
    s(
        "compressed-bomb",
        &[
            &header(Who::Nurse, HONEST, COMPRESSED + CHANGES, 1, 0),
            &[BIG_PROFILE],
        ],
    );
    s(
        "compressed-bomb-sync-message",
        &[
            &header(Who::Nurse, HONEST, COMPRESSED + SYNC_MESSAGE, 1, 0),
            &[BIG_PROFILE],
        ],
    );
    // The queued-dependency attack: a harmless receipt, then an edit of the doctor's report
    // built on it; the edit is sent first (queued for its missing dependency), then the
    // receipt, which releases it.
    // (The edit sets the care time to 1, still readable: only the owner rule is broken.)
    let queued: &[u8] = &[RECEIPT_TYPED, OTHER, EDIT_CONTENT_RAW, OTHER, 0, 8];
    s(
        "queued-dependency-sync",
        &[&header(Who::Nurse, HONEST, REORDER_SYNC, 2, 0), queued],
    );
    s(
        "queued-dependency-mixed",
        &[&header(Who::Nurse, HONEST, REORDER_MIXED, 2, 0), queued],
    );
    s(
        "queued-dependency-changes",
        &[&header(Who::Nurse, HONEST, REORDER_CHANGES, 2, 0), queued],
    );
    // Two steps: a new report, then its author rewrites the author.
    s(
        "two-steps-report-then-author",
        &[
            &header(Who::Nurse, HONEST, CHANGES, 1, 0),
            &[NEW_REPORT_TYPED, 1],
            &header(Who::Nurse, HONEST, SYNC_MESSAGE, 1, 0),
            &[SET_AUTHOR, 0, 0, 6, 2],
        ],
    );
    out.into_iter().map(|(n, d)| (n.to_string(), d)).collect()
}
