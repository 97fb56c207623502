//! Every message Tessera sends, in one place: a subject, a text/plain part and an HTML part per
//! [`MailIntent`], with the product name and public origin filled in.
//!
//! Links are absolute on the public origin and carry tokens in the URL fragment
//! (`/reset-password#token=…`): a fragment never reaches a server log, a proxy or a `Referer`, and
//! a mail scanner that opens the link consumes nothing (the SPA page asks for a click first).
//! Everything inserted into HTML is escaped; nothing user-controlled goes into the subject.

use std::fmt::Write as _;

use tessera_auth_core::mail::{LinkToken, MailIntent, Recipient, SecondFactor};
use time::OffsetDateTime;

/// What every template needs besides the intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateContext {
    /// "Tessera", or the display name of `TESSERA_MAIL_FROM`.
    pub product: String,
    /// `TESSERA_PUBLIC_ORIGIN`, e.g. `https://app.example.com` (no trailing slash).
    pub origin: String,
}

/// A message's subject and its two bodies.
#[derive(Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Bodies can hold a live link: never in logs.
impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rendered")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

/// `&`, `<`, `>`, `"` and `'` as character references.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `2 December 2026 at 04:05 UTC`.
pub fn human_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let month = MONTHS
        .get(usize::from(u8::from(at.month())).saturating_sub(1))
        .copied()
        .unwrap_or("");
    format!(
        "{} {month} {} at {:02}:{:02} UTC",
        at.day(),
        at.year(),
        at.hour(),
        at.minute()
    )
}

/// `<origin><path>#token=<token>`.
pub fn token_link(origin: &str, path: &str, token: &LinkToken) -> String {
    format!("{origin}{path}#token={}", token.expose())
}

fn factor_text(factor: &SecondFactor) -> String {
    match factor {
        SecondFactor::Totp => "an authenticator app (one-time codes)".to_owned(),
        SecondFactor::Passkey { name } => format!("the passkey \u{201c}{name}\u{201d}"),
        SecondFactor::RecoveryCodes => "a new set of recovery codes (the previous codes no longer work)".to_owned(),
    }
}

/// One paragraph of a message: text, optionally a button-style link.
enum Block {
    Para(String),
    Link { label: String, url: String },
}

fn render_blocks(ctx: &TemplateContext, to: &Recipient, subject: String, blocks: &[Block]) -> Rendered {
    let greeting = format!("Hello {},", to.name);
    let footer = format!(
        "This message was sent by {} ({}) to {} about your account.",
        ctx.product, ctx.origin, to.address
    );

    let mut text = String::new();
    let _ = writeln!(text, "{greeting}\n");
    for block in blocks {
        match block {
            Block::Para(para) => {
                let _ = writeln!(text, "{para}\n");
            }
            Block::Link { label, url } => {
                let _ = writeln!(text, "{label}:\n{url}\n");
            }
        }
    }
    let _ = writeln!(text, "-- \n{footer}");

    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family: sans-serif; line-height: 1.5; color: #1a1a1a; max-width: 36em\">\n\
         <p>{}</p>\n",
        escape_html(&subject),
        escape_html(&greeting)
    );
    for block in blocks {
        match block {
            Block::Para(para) => {
                let _ = writeln!(html, "<p>{}</p>", escape_html(para));
            }
            Block::Link { label, url } => {
                let url = escape_html(url);
                let _ = writeln!(
                    html,
                    "<p><a href=\"{url}\" style=\"display: inline-block; padding: 0.6em 1.2em; background: #2952cc; \
                     color: #ffffff; text-decoration: none; border-radius: 4px\">{}</a></p>\n\
                     <p style=\"font-size: 0.9em\">Or copy this address into your browser:<br>{url}</p>",
                    escape_html(label)
                );
            }
        }
    }
    let _ = write!(
        html,
        "<hr>\n<p style=\"font-size: 0.8em; color: #555555\">{}</p>\n</body></html>\n",
        escape_html(&footer)
    );
    Rendered { subject, text, html }
}

/// Renders `intent` for `to`.
pub fn render(ctx: &TemplateContext, to: &Recipient, intent: &MailIntent) -> Rendered {
    let product = &ctx.product;
    let sign_in = format!("{}/", ctx.origin);
    match intent {
        MailIntent::VerifyAddress { token, expires_at } => render_blocks(
            ctx,
            to,
            format!("Confirm your email address for {product}"),
            &[
                Block::Para(format!(
                    "Please confirm that {} is your email address for {product}.",
                    to.address
                )),
                Block::Link {
                    label: "Confirm my address".to_owned(),
                    url: token_link(&ctx.origin, "/verify-email", token),
                },
                Block::Para(format!(
                    "The link works once, until {}. If you did not create an account, ignore this message.",
                    human_time(*expires_at)
                )),
            ],
        ),
        MailIntent::ResetPassword { token, expires_at } => render_blocks(
            ctx,
            to,
            format!("Reset your {product} password"),
            &[
                Block::Para(format!(
                    "Someone (hopefully you) asked to reset the password of your {product} account."
                )),
                Block::Link {
                    label: "Choose a new password".to_owned(),
                    url: token_link(&ctx.origin, "/reset-password", token),
                },
                Block::Para(format!(
                    "The link works once, until {}. If you did not ask for it, ignore this message: \
                     your password stays as it is.",
                    human_time(*expires_at)
                )),
            ],
        ),
        MailIntent::ConfirmNewAddress {
            token,
            new_address,
            expires_at,
        } => render_blocks(
            ctx,
            to,
            format!("Confirm your new email address for {product}"),
            &[
                Block::Para(format!(
                    "Please confirm that {new_address} should become the email address of your {product} account."
                )),
                Block::Link {
                    label: "Confirm my new address".to_owned(),
                    url: token_link(&ctx.origin, "/confirm-email", token),
                },
                Block::Para(format!(
                    "The link works once, until {}. Nothing changes until you confirm. If you did not ask \
                     for this, ignore this message.",
                    human_time(*expires_at)
                )),
            ],
        ),
        MailIntent::AddressChangeNotice { new_address } => render_blocks(
            ctx,
            to,
            format!("Your {product} email address is being changed"),
            &[
                Block::Para(format!(
                    "Someone signed in to your {product} account asked to change its email address to \
                     {new_address}. Nothing changes unless the new address is confirmed."
                )),
                Block::Para(format!(
                    "If this was not you, sign in at {sign_in}, change your password and sign out of \
                     every other session."
                )),
            ],
        ),
        MailIntent::PasswordChanged { at } => render_blocks(
            ctx,
            to,
            format!("Your {product} password was changed"),
            &[
                Block::Para(format!(
                    "The password of your {product} account was changed on {}.",
                    human_time(*at)
                )),
                Block::Para(format!(
                    "If this was not you, reset your password now with \u{201c}Forgot password?\u{201d} at \
                     {sign_in} and review your sessions."
                )),
            ],
        ),
        MailIntent::SecondFactorAdded { factor, at } => render_blocks(
            ctx,
            to,
            format!("A second factor was added to your {product} account"),
            &[
                Block::Para(format!(
                    "On {}, {} was added as a second factor of your {product} account.",
                    human_time(*at),
                    factor_text(factor)
                )),
                Block::Para(format!(
                    "If this was not you, sign in at {sign_in}, remove it, change your password and sign \
                     out of every other session."
                )),
            ],
        ),
        MailIntent::SecondFactorRemoved { factor, at } => render_blocks(
            ctx,
            to,
            format!("A second factor was removed from your {product} account"),
            &[
                Block::Para(format!(
                    "On {}, {} was removed from the second factors of your {product} account.",
                    human_time(*at),
                    factor_text(factor)
                )),
                Block::Para(format!(
                    "If this was not you, sign in at {sign_in}, change your password and review your \
                     second factors and sessions."
                )),
            ],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const TOKEN: &str = "q3Xh0-_Zt9Y2bLr8Vw1kPn4sJd6Gf5Hc7Am0Ee2Ui3o";

    fn ctx() -> TemplateContext {
        TemplateContext {
            product: "Tessera".to_owned(),
            origin: "https://app.example.com".to_owned(),
        }
    }

    fn ada() -> Recipient {
        Recipient {
            address: "ada@example.com".to_owned(),
            name: "Ada".to_owned(),
        }
    }

    fn token() -> LinkToken {
        LinkToken::new(TOKEN).unwrap()
    }

    fn at() -> OffsetDateTime {
        datetime!(2026-12-02 04:05:06 UTC)
    }

    #[test]
    fn links_are_absolute_with_the_token_in_the_fragment() {
        let cases = [
            (
                MailIntent::VerifyAddress {
                    token: token(),
                    expires_at: at(),
                },
                "/verify-email",
            ),
            (
                MailIntent::ResetPassword {
                    token: token(),
                    expires_at: at(),
                },
                "/reset-password",
            ),
            (
                MailIntent::ConfirmNewAddress {
                    token: token(),
                    new_address: "new@example.com".to_owned(),
                    expires_at: at(),
                },
                "/confirm-email",
            ),
        ];
        for (intent, path) in cases {
            let rendered = render(&ctx(), &ada(), &intent);
            let link = format!("https://app.example.com{path}#token={TOKEN}");
            assert!(
                rendered.text.contains(&format!("\n{link}\n")),
                "{path}: {}",
                rendered.text
            );
            assert!(
                rendered.html.contains(&format!("href=\"{link}\"")),
                "{path}: {}",
                rendered.html
            );
            // Never in a query string, never relative.
            assert!(!rendered.text.contains(&format!("?token={TOKEN}")));
            assert!(!rendered.html.contains(&format!("href=\"{path}")));
            assert!(
                rendered.text.contains("until 2 December 2026 at 04:05 UTC"),
                "{}",
                rendered.text
            );
            assert!(!rendered.subject.contains(TOKEN));
            assert!(!format!("{rendered:?}").contains(TOKEN), "Debug hides the bodies");
        }
    }

    #[test]
    fn subjects_name_the_product_and_bodies_greet_and_sign() {
        let ctx = TemplateContext {
            product: "Acme".to_owned(),
            origin: "https://acme.example".to_owned(),
        };
        let intents = [
            MailIntent::VerifyAddress {
                token: token(),
                expires_at: at(),
            },
            MailIntent::ResetPassword {
                token: token(),
                expires_at: at(),
            },
            MailIntent::ConfirmNewAddress {
                token: token(),
                new_address: "new@example.com".to_owned(),
                expires_at: at(),
            },
            MailIntent::AddressChangeNotice {
                new_address: "new@example.com".to_owned(),
            },
            MailIntent::PasswordChanged { at: at() },
            MailIntent::SecondFactorAdded {
                factor: SecondFactor::Totp,
                at: at(),
            },
            MailIntent::SecondFactorRemoved {
                factor: SecondFactor::Passkey {
                    name: "YubiKey".to_owned(),
                },
                at: at(),
            },
        ];
        let mut subjects = std::collections::HashSet::new();
        for intent in &intents {
            let rendered = render(&ctx, &ada(), intent);
            assert!(rendered.subject.contains("Acme"), "{}", rendered.subject);
            assert!(subjects.insert(rendered.subject.clone()), "subjects are distinct");
            for body in [&rendered.text, &rendered.html] {
                assert!(body.contains("Hello Ada,"), "{body}");
                assert!(body.contains("https://acme.example"), "{body}");
                assert!(body.contains("ada@example.com"), "{body}");
            }
            assert!(rendered.html.starts_with("<!DOCTYPE html>"));
            assert!(
                !rendered.text.contains('<'),
                "the text part has no markup: {}",
                rendered.text
            );
        }
        let notice = render(&ctx, &ada(), &intents[3]);
        assert!(notice.text.contains("new@example.com"));
        let removed = render(&ctx, &ada(), &intents[6]);
        assert!(removed.text.contains("\u{201c}YubiKey\u{201d}"));
        let changed = render(&ctx, &ada(), &intents[4]);
        assert!(changed.text.contains("2 December 2026 at 04:05 UTC"));
    }

    #[test]
    fn user_controlled_text_is_escaped_in_html() {
        let evil = Recipient {
            address: "ada@example.com".to_owned(),
            name: "<script>alert('x')</script> & \"Co\"".to_owned(),
        };
        let intent = MailIntent::SecondFactorAdded {
            factor: SecondFactor::Passkey {
                name: "<img src=x onerror=alert(1)>".to_owned(),
            },
            at: at(),
        };
        let rendered = render(&ctx(), &evil, &intent);
        assert!(!rendered.html.contains("<script>"), "{}", rendered.html);
        assert!(!rendered.html.contains("<img"), "{}", rendered.html);
        assert!(
            rendered
                .html
                .contains("Hello &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Co&quot;,")
        );
        assert!(rendered.html.contains("&lt;img src=x onerror=alert(1)&gt;"));
        // The text part is plain text: it shows the name as typed.
        assert!(rendered.text.contains("Hello <script>alert('x')</script> & \"Co\","));
        assert!(
            !rendered.subject.contains("script"),
            "nothing user-controlled in the subject"
        );
    }

    #[test]
    fn escaping_and_times() {
        assert_eq!(escape_html("a<b>&\"c'"), "a&lt;b&gt;&amp;&quot;c&#39;");
        assert_eq!(escape_html("plain é"), "plain é");
        assert_eq!(
            human_time(datetime!(2027-01-09 23:59:59 +02:00)),
            "9 January 2027 at 21:59 UTC"
        );
    }
}
