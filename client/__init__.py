"""A client of the Digits service, as a library and as `python -m client` (see README, "Client").

    from client import Client
    digits = Client("http://127.0.0.1:8000", token=os.environ.get("API_TOKEN"))
    sent = digits.upload(["scans/"], template="cheque")
    statuses = digits.wait(sent.ids)
    with open("out.csv", "wb") as out:
        digits.export_csv(sent.ids, out)

Standard library only: the client runs wherever Python 3.11 does, with nothing to install.
"""

from client.api import FINISHED, Client, UploadResult
from client.http import ClientError, ConnectionFailed, HttpError
from client.progress import Progress

__all__ = ["FINISHED", "Client", "ClientError", "ConnectionFailed", "HttpError", "Progress", "UploadResult"]
