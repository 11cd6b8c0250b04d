"""One SMTP connection (smtplib) that sends stored messages and classifies the server's answers."""

from __future__ import annotations

import re
import smtplib
import socket
import ssl

from paperfeed.settings import Settings

_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)
# Enhanced status codes (RFC 3463) that mean the mailbox itself: bad address, disabled mailbox.
_MAILBOX_STATUS = re.compile(r"^5\.(1\.\d{1,3}|2\.1)\b")


class TransientSmtpError(Exception):
    """Worth trying again later: a 4xx reply, a refused or lost connection, a timeout."""


class PermanentSmtpError(Exception):
    """The server refused this recipient or message for good (5xx): do not try it again.

    `bad_address` says whether the refusal is about the mailbox (at RCPT TO, or an enhanced
    status 5.1.x or 5.2.1) rather than this message (policy, size, content).
    """

    def __init__(self, message: str, *, bad_address: bool) -> None:
        super().__init__(message)
        self.bad_address = bad_address


class SmtpConfigError(Exception):
    """The server refused us (authentication, our sender address): no mail can go until fixed."""


class SmtpConnection:
    """A lazily opened connection to the configured server, reused for many messages."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def send(self, sender: str, recipient: str, message: bytes) -> None:
        """Send one message; returns once the server answered 250 to the end of DATA.

        Raises TransientSmtpError (4xx, connection refused or lost, timeout; a reply lost after
        the end of DATA too), PermanentSmtpError (5xx for this recipient or message) or
        SmtpConfigError (our login or sender address refused).
        """
        try:
            smtp = self._open()
            self._expect(smtp.mail(sender), (250,), "MAIL FROM", sender_side=True)
            self._expect(smtp.rcpt(recipient), (250, 251), "RCPT TO")
            self._expect(smtp.docmd("DATA"), (354,), "DATA")
            body = _LEADING_DOT.sub(b"..", message)
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body + b".\r\n")
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as error:
            self.close()
            raise TransientSmtpError(f"connection: {error}") from error
        self._expect((code, reply), (250,), "end of DATA")

    def close(self) -> None:
        """Say QUIT if the connection still works, and forget it either way."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()

    def _open(self) -> smtplib.SMTP:
        if self._smtp is not None:
            return self._smtp
        s = self.settings
        try:
            if s.smtp_security == "ssl":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.smtp_host,
                    s.smtp_port,
                    timeout=s.smtp_timeout_s,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s)
            # Commands and the message go out at once: without NODELAY, Nagle's algorithm can
            # hold a small write until the server's delayed ACK (40 ms a message on loopback).
            if smtp.sock is not None:
                smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.smtp_user:
                smtp.login(s.smtp_user, s.smtp_password.get_secret_value())
        except smtplib.SMTPAuthenticationError as error:
            raise SmtpConfigError(f"the SMTP server refused the login: {_reply(error)}") from None
        except smtplib.SMTPNotSupportedError as error:
            raise SmtpConfigError(f"the SMTP server does not support {error}") from None
        except (smtplib.SMTPException, OSError) as error:
            raise TransientSmtpError(
                f"cannot connect to {s.smtp_host}:{s.smtp_port}: {error}"
            ) from error
        self._smtp = smtp
        return smtp

    def _expect(
        self,
        reply: tuple[int, bytes],
        good: tuple[int, ...],
        step: str,
        *,
        sender_side: bool = False,
    ) -> None:
        code, text = reply
        if code in good:
            return
        message = f"{step}: {code} {text.decode('utf-8', 'replace')}"[:500]
        if self._smtp is not None and code != 421:
            try:  # leave the connection ready for the next message
                self._smtp.rset()
            except (smtplib.SMTPException, OSError):
                self.close()
        else:
            self.close()
        if 400 <= code < 500 or code < 200:
            raise TransientSmtpError(message)
        if sender_side:
            raise SmtpConfigError(message)
        mailbox = step == "RCPT TO" or bool(_MAILBOX_STATUS.match(text.decode("ascii", "replace")))
        raise PermanentSmtpError(message, bad_address=mailbox)


def _reply(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{error.smtp_code} {text}"
