//! The console chat adapter, the embedded default: one terminal channel. Lines
//! typed (or piped) on stdin are chat messages from the configured user; cards and
//! replies are rendered from the same templates as in Discord and printed on stdout.
//! Logs go to stderr, so stdout carries only the conversation.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::{oneshot, watch};
use warroom_core::event::{Action, Event, Message};
use warroom_core::incident::{ChannelRef, Person};

use crate::app::{ChatSink, Delivery, DeliveryError, Shared};

/// Adapter name and the id of its only channel.
pub const ADAPTER: &str = "console";

/// The console channel.
pub struct Console {
    shared: Arc<Shared>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl Console {
    /// A console printing to stdout.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self::with_output(shared, Box::new(std::io::stdout()))
    }

    /// A console printing to `out`.
    pub fn with_output(shared: Arc<Shared>, out: Box<dyn Write + Send>) -> Self {
        Self {
            shared,
            out: Mutex::new(out),
        }
    }

    /// The console's channel.
    pub fn channel() -> ChannelRef {
        ChannelRef::new(ADAPTER, ADAPTER)
    }

    fn print(&self, text: &str) {
        // std Mutex: never held across an await.
        let mut out = match self.out.lock() {
            Ok(o) => o,
            Err(poisoned) => poisoned.into_inner(),
        };
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }

    /// Reads lines until input ends or `stop` turns true; signals `eof` at the end of input.
    pub async fn read_loop(
        self: Arc<Self>,
        input: impl AsyncRead + Unpin,
        mut stop: watch::Receiver<bool>,
        eof: oneshot::Sender<()>,
    ) {
        let user = Person::named(&self.shared.config.console_user);
        let mut lines = BufReader::new(input).lines();
        loop {
            let line = tokio::select! {
                l = lines.next_line() => l,
                _ = stop.wait_for(|s| *s) => return,
            };
            let text = match line {
                Ok(Some(t)) => t,
                Ok(None) | Err(_) => break,
            };
            if text.trim().is_empty() {
                continue;
            }
            let event = Event::Chat {
                channel: Self::channel(),
                actor: user.clone(),
                text,
            };
            match self.shared.engine.submit(event).await {
                Ok(outcome) if outcome.reply.is_none() && outcome.actions.is_empty() => {
                    self.print(&self.shared.renderer.system("not_a_command"))
                }
                // The console is the war room of what is declared in it: bind it now, so the
                // next line (often already piped in) targets the new incident.
                Ok(outcome) => {
                    if let (Some(Message::Declared { .. }), Some(incident)) =
                        (&outcome.reply, outcome.incident)
                    {
                        let opened = Event::WarRoomOpened {
                            incident,
                            channel: Self::channel(),
                        };
                        if let Err(e) = self.shared.engine.submit(opened).await {
                            self.print(&e.chat_reply(&self.shared.renderer));
                        }
                    }
                }
                Err(e) => self.print(&e.chat_reply(&self.shared.renderer)),
            }
        }
        let _ = eof.send(());
    }

    fn render(&self, message: &Message) -> Result<(), DeliveryError> {
        let text = self
            .shared
            .renderer
            .render(message)
            .map_err(|e| DeliveryError::Permanent(e.to_string()))?;
        self.print(&text);
        Ok(())
    }
}

impl ChatSink for Console {
    fn adapter(&self) -> &'static str {
        ADAPTER
    }

    fn deliver<'a>(&'a self, _key: u64, action: &'a Action) -> Delivery<'a> {
        Box::pin(async move {
            match action {
                Action::Send { message, .. } => self.render(message),
                Action::Notify { page, .. } => self.render(&Message::Page { page: page.clone() }),
                // A terminal cannot edit: a changed digest is printed again.
                Action::Digest { message, .. } => self.render(message),
                Action::PostCard { incident, .. } => match self.shared.store_incident(incident) {
                    Ok(Some(inc)) => self.render(&Message::Card {
                        incident: Box::new(inc),
                    }),
                    Ok(None) => Err(DeliveryError::Permanent(format!(
                        "{incident} does not exist"
                    ))),
                    Err(e) => Err(DeliveryError::Retry(None))
                        .inspect_err(|_| tracing::warn!(error = %e, "cannot load incident")),
                },
                // The console is the war room of every incident declared while it runs.
                Action::OpenWarRoom { incident } => {
                    let event = Event::WarRoomOpened {
                        incident: incident.clone(),
                        channel: Self::channel(),
                    };
                    self.shared
                        .engine
                        .submit(event)
                        .await
                        .map(|_| ())
                        .map_err(|_| DeliveryError::Retry(None))
                }
                // A terminal cannot edit what it printed (/incident status shows the current
                // card), and there is no channel to archive.
                Action::RefreshCard { .. }
                | Action::ArchiveWarRoom { .. }
                | Action::Assist { .. } => Ok(()),
            }
        })
    }
}
