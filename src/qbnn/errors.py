"""The one exception type users see: a clear, one-line message naming the culprit."""


class QbnnError(Exception):
    """A user-facing error (bad input, bad config, impossible request).

    The CLI prints ``qbnn: error: <message>`` on one line and exits with status 2,
    without a traceback unless ``--debug`` is given.
    """
