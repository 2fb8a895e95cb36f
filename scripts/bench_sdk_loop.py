"""A naive send loop written with the official Genesys Cloud Python SDK, for comparison.

Usage: python bench_sdk_loop.py BASE_URL CLIENT_ID FROM_NUMBER FIRST COUNT
(the client secret comes from HERALD_SANDBOX_CLIENT_SECRET).

Sends COUNT agentless SMS with texts `Notice R-<n>.` for n in FIRST..FIRST+COUNT, one after
another, the way a script without a ledger would: on a 429 it sleeps one second and retries.
Prints `sent=<n> rate_limited=<n> seconds=<s>` at the end.
"""

import os
import sys
import time

import PureCloudPlatformClientV2 as sdk
from PureCloudPlatformClientV2 import models
from PureCloudPlatformClientV2.api_client import ApiClient
from PureCloudPlatformClientV2.rest import ApiException


def main():
    base_url, client_id, from_number, first, count = sys.argv[1:6]
    first, count = int(first), int(count)
    sdk.configuration.host = base_url
    client = ApiClient().get_client_credentials_token(
        client_id, os.environ["HERALD_SANDBOX_CLIENT_SECRET"]
    )
    conv = sdk.ConversationsApi(client)
    sent = limited = 0
    started = time.monotonic()
    for n in range(first, first + count):
        body = models.SendAgentlessOutboundMessageRequest()
        body.from_address = from_number
        body.to_address = "+1%03d555%04d" % ([212, 312, 415, 617][n // 10000], n % 10000)
        body.to_address_messenger_type = "sms"
        body.text_body = "Notice R-%05d." % n
        while True:
            try:
                conv.post_conversations_messages_agentless(body)
                sent += 1
                break
            except ApiException as e:
                if e.status == 429:
                    limited += 1
                    time.sleep(1)
                    continue
                raise
    print("sent=%d rate_limited=%d seconds=%.3f" % (sent, limited, time.monotonic() - started))


if __name__ == "__main__":
    main()
