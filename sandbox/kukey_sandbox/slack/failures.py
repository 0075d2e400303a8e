"""What the driver raises when a test asks for something Slack would not let a person do.

They are AssertionErrors on purpose: in a test they read as failed expectations, and
`pytest.raises(NoSuchButton)` is how a test proves that buttons are gone.
"""

from __future__ import annotations


class SlackDriverError(AssertionError):
    """The driver cannot do what the test asked, the way Slack would not."""


class NoSuchButton(SlackDriverError):
    """No button with that label is visible to the user."""


class NoModal(SlackDriverError):
    """The user has no open modal to submit or close."""


class AckTimeout(SlackDriverError):
    """The app did not acknowledge within Slack's deadline (3 seconds)."""


class EnvelopeLost(SlackDriverError):
    """The Socket Mode connection carrying a request died before the app acked it: the person saw an error."""


class SlackRejected(SlackDriverError):
    """The app answered with something Slack refuses (an invalid view, unknown error keys, ...)."""
