//! The mail worker of `tessera serve`: the transport the configuration names (SMTP, or the outbox
//! in the data directory), on this instance's queue, clock and master key.

use std::sync::Arc;

use tessera_mail::transport::hello_name;
use tessera_mail::{MailWorkerHandle, MailWorkerParts, OutboxTransport, SmtpTransport, Transport, spawn_mail_worker};

use crate::config::{MailTransportSetting, origin_host};
use crate::state::SharedState;

/// Builds the transport and starts the worker. `Err` names what is wrong (never a password).
pub fn start_mail_worker(state: &SharedState) -> Result<MailWorkerHandle, String> {
    let config = &state.config;
    let transport: Arc<dyn Transport> = match &config.mail.transport {
        MailTransportSetting::Smtp(url) => Arc::new(
            SmtpTransport::new(url, hello_name(origin_host(&config.public_origin)), None)
                .map_err(|err| err.to_string())?,
        ),
        MailTransportSetting::Outbox(dir) => Arc::new(OutboxTransport::new(dir.clone())),
    };
    Ok(spawn_mail_worker(MailWorkerParts {
        queue: Arc::new(state.store.clone()),
        key: state.master_key.mail_sealing_key(),
        transport,
        clock: state.clock.clone(),
        from: config.mail.from.clone(),
        origin: config.public_origin.clone(),
        wakeup: state.store.mail_wakeup(),
        poll_interval: config.sync_interval,
    }))
}
