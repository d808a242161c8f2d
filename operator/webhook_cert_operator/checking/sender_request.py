"""Adapter: send a sender profile's validation request over HTTPS, as the sender would.

Some webhook senders (RingCentral) make an HTTP request when a subscription is created
and want a given answer within a deadline; senders.py says what each profile sends and
how it judges the answer. This module only sends it and records the answer.

Adapter: a socket, the standard library's `ssl` and `http.client`. Blocking.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time

from webhook_cert_operator.api.formats import is_ip_address, split_host_port
from webhook_cert_operator.checking import senders
from webhook_cert_operator.checking.target import ascii_host


def send_validation_request(
    address: str, server_name: str, request: senders.Request, *, timeout: float
) -> senders.Answer | str:
    """Send `request` over HTTPS to `address` ("192.0.2.1:443", "[2001:db8::1]:443"),
    with SNI and Host `server_name`; the answer, or why there was none (stable text).

    The certificate is not verified here: the chain is judged by `chain.analyse`, and
    this answers only what the sender's handshake request gets back.
    """
    host_port = split_host_port(address)
    host, port = host_port.host, host_port.port or 443
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    sni = None if is_ip_address(server_name.strip("[]")) else ascii_host(server_name)
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        raw = socket.create_connection((host, port), timeout=timeout)
        connection.sock = context.wrap_socket(raw, server_hostname=sni)
        return _exchange(connection, server_name, request)
    except TimeoutError:
        return f"no answer from {address} within {timeout:g} s"
    except ssl.SSLError as error:
        return f"the TLS connection to {address} failed ({error.reason or error})"
    except OSError as error:
        return f"cannot reach {address} ({error.strerror or type(error).__name__})"
    except http.client.HTTPException as error:
        return f"{address} did not answer in HTTP ({type(error).__name__})"
    finally:
        connection.close()


def _exchange(
    connection: http.client.HTTPConnection, server_name: str, request: senders.Request
) -> senders.Answer:
    """Send `request` on the connected `connection` and read the answer (its first 64 KiB
    of body), timed from the request to the response's headers."""
    headers = {"Host": ascii_host(server_name), **request.headers}
    started = time.monotonic()
    connection.request(request.method, request.target, body=request.body, headers=headers)
    response = connection.getresponse()
    seconds = time.monotonic() - started
    body = response.read(65536)
    return senders.Answer(
        status=response.status,
        headers={name.lower(): value for name, value in response.getheaders()},
        body=body,
        seconds=seconds,
    )
