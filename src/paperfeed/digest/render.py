"""Digest and confirmation mails as RFC 5322 messages: Jinja2 HTML and text parts, headers."""

from __future__ import annotations

import email.policy
import email.utils
import functools
from dataclasses import dataclass
from datetime import UTC, datetime
from email import headerregistry
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup

from paperfeed.core.text import squash
from paperfeed.domain import Paper
from paperfeed.settings import Settings
from paperfeed.store.models import SubscriptionRow

from .compose import DigestContent, excerpt
from .tokens import LinkSigner, link_subject

TEMPLATES_DIR = Path(__file__).parent / "templates"


class _HeaderClasses(headerregistry.HeaderRegistry):
    """The standard header registry, but each header class is made once, not per header."""

    @functools.cache  # noqa: B019 - one registry lives as long as the process anyway
    def __getitem__(self, name: str):
        return super().__getitem__(name)


# 7-bit transfer encodings and CRLF lines: the stored message goes over any SMTP server as is.
MAIL_POLICY = email.policy.SMTP.clone(cte_type="7bit", header_factory=_HeaderClasses())


def public_url(settings: Settings) -> str:
    """The site's address for links in mails: PAPERFEED_BASE_URL, else the host and port served."""
    return settings.public_url


def message_id(kind: str, key: str, subscription_id: int, settings: Settings) -> str:
    """A Message-ID fixed by what the mail is: a resend of the same digest carries the same one."""
    _, address = email.utils.parseaddr(settings.mail_from)
    domain = address.rpartition("@")[2] or "paperfeed.localhost"
    local = f"paperfeed.{kind}.{key}.{subscription_id}".replace(":", ".")
    return f"<{local}@{domain}>"


@dataclass(frozen=True)
class RenderedMail:
    """A composed mail before it becomes a message: subject, both parts, the links they carry.

    The links are signed once and reused for the List-Unsubscribe header, so the header and the
    body name the same address (the tokens carry a timestamp).
    """

    subject: str
    text: str
    html: str
    links: dict[str, str]


class MailRenderer:
    """Renders one site's mails; made once per run and shared by every subscriber."""

    def __init__(self, settings: Settings, signer: LinkSigner) -> None:
        self.settings = settings
        self.signer = signer
        self.base = public_url(settings)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters.update(excerpt=excerpt, squash=squash)
        self._digest_html = self.env.get_template("digest.html")
        self._digest_text = self.env.get_template("digest.txt")
        # Each paper's block is the same in every mail of a run: render it once (the run's
        # papers are few hundred, its subscribers many thousand).
        self._paper_html: dict[str, Markup] = {}
        self._paper_text: dict[str, str] = {}

    def paper_url(self, paper: Paper) -> str:
        return f"{self.base}/papers/{quote(paper.arxiv_id)}"

    def _paper_block(self, paper: Paper, cache: dict, template: str, markup: bool):
        block = cache.get(paper.arxiv_id)
        if block is None:
            context = {"paper": paper, "paper_url": self.paper_url}
            block = self.env.get_template(template).render(context).strip("\n")
            cache[paper.arxiv_id] = block = Markup(block) if markup else block
        return block

    def links(self, subscription: SubscriptionRow) -> dict[str, str]:
        """The signed addresses a subscriber's mails link to."""

        def signed(path: str, purpose) -> str:
            subject = link_subject(purpose, subscription.email, subscription.confirmations_sent)
            token = self.signer.make(purpose, subscription.id, subject)
            return f"{self.base}{path}?{urlencode({'token': token})}"

        return {
            "unsubscribe": signed("/digest/unsubscribe", "unsubscribe"),
            "preferences": signed("/digest/preferences", "preferences"),
            "confirm": signed("/digest/confirm", "confirm"),
        }

    def digest(self, subscription: SubscriptionRow, content: DigestContent) -> RenderedMail:
        """The subject and both parts of a digest."""
        period = content.period
        count = len(content.paper_ids)
        when = period.label if period.kind == "day" else f"{period.label} ({period.span})"
        subject = f"{self.settings.site_name}: {count} paper{'s' if count != 1 else ''}, {when}"
        kind = "date" if period.kind == "day" else "week"
        links = self.links(subscription)
        context = {
            "site_name": self.settings.site_name,
            "content": content,
            "subject": subject,
            "base": self.base,
            "period_url": f"{self.base}/papers/{kind}/{period.slug}",
            "links": links,
            "subscription": subscription,
        }
        html = self._digest_html.render(
            context,
            paper_block=lambda p: self._paper_block(p, self._paper_html, "_paper.html", True),
        )
        text = self._digest_text.render(
            context,
            paper_block=lambda p: self._paper_block(p, self._paper_text, "_paper.txt", False),
        )
        return RenderedMail(subject, text, html, links)

    def confirmation(self, subscription: SubscriptionRow, already_active: bool) -> RenderedMail:
        """The double opt-in mail (or, for an address already subscribed, its preferences link)."""
        name = self.settings.site_name
        subject = (
            f"Your {name} digest preferences"
            if already_active
            else f"Confirm your {name} digest subscription"
        )
        links = self.links(subscription)
        context = {
            "site_name": name,
            "subject": subject,
            "base": self.base,
            "links": links,
            "subscription": subscription,
            "already_active": already_active,
        }
        html = self.env.get_template("confirm.html").render(context)
        text = self.env.get_template("confirm.txt").render(context)
        return RenderedMail(subject, text, html, links)

    def message(
        self,
        subscription: SubscriptionRow,
        mail: RenderedMail,
        *,
        message_id: str,
        list_mail: bool,
        now: datetime | None = None,
    ) -> EmailMessage:
        """The whole message; list mails carry the RFC 8058 one-click unsubscribe headers."""
        message = EmailMessage(policy=MAIL_POLICY)
        message["From"] = self.settings.mail_from
        message["To"] = subscription.email
        message["Subject"] = mail.subject
        message["Date"] = email.utils.format_datetime(now or datetime.now(UTC))
        message["Message-ID"] = message_id
        if list_mail:
            _, address = email.utils.parseaddr(self.settings.mail_from)
            domain = address.rpartition("@")[2] or "paperfeed.localhost"
            message["List-Id"] = f"{self.settings.site_name} digest <digest.{domain}>"
            message["List-Unsubscribe"] = f"<{mail.links['unsubscribe']}>"
            message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
            message["Auto-Submitted"] = "auto-generated"
        # Explicit encodings: left to choose, the email package encodes each part both ways to
        # keep the shorter, which doubles the cost of composing 10,000 digests.
        message.set_content(mail.text, cte="quoted-printable")
        message.add_alternative(mail.html, subtype="html", cte="base64")
        return message
