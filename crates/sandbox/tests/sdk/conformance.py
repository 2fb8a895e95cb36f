"""Drives a running herald sandbox with the official Genesys Cloud Python SDK, unchanged.

Usage: python conformance.py BASE_URL CLIENT_ID CLIENT_SECRET FROM_NUMBER
(the client secret may also come from HERALD_SANDBOX_CLIENT_SECRET).

Every response the SDK deserialises is also checked strictly: each JSON field must be one the
SDK model declares (a misnamed field would otherwise be silently dropped), each value must have
the model's type, and no enum may deserialise to the SDK's "outdated_sdk_version" marker.
Exits non-zero with a message on the first mismatch.
"""

import datetime
import json
import re
import sys
import time
import urllib.request

import PureCloudPlatformClientV2 as sdk
from PureCloudPlatformClientV2 import models
from PureCloudPlatformClientV2.api_client import ApiClient
from PureCloudPlatformClientV2.rest import ApiException
from dateutil.parser import parse as parse_datetime

CHECKED = []


def fail(message):
    raise AssertionError(message)


def strict(data, klass, path):
    """Checks raw JSON against an SDK type name or model class."""
    if data is None:
        return
    if isinstance(klass, str):
        m = re.match(r"list\[(.*)\]$", klass)
        if m:
            if not isinstance(data, list):
                fail(f"{path}: expected a list, got {data!r}")
            for i, item in enumerate(data):
                strict(item, m.group(1), f"{path}[{i}]")
            return
        m = re.match(r"dict\(([^,]*), (.*)\)$", klass)
        if m:
            if not isinstance(data, dict):
                fail(f"{path}: expected an object, got {data!r}")
            for k, v in data.items():
                strict(v, m.group(2), f"{path}.{k}")
            return
        primitives = {"str": str, "bool": bool, "float": (int, float)}
        if klass in primitives:
            if not isinstance(data, primitives[klass]):
                fail(f"{path}: expected {klass}, got {data!r}")
            return
        if klass == "int":
            if not isinstance(data, int) or isinstance(data, bool):
                fail(f"{path}: expected int, got {data!r}")
            return
        if klass == "datetime":
            if not isinstance(data, str):
                fail(f"{path}: expected a datetime string, got {data!r}")
            parse_datetime(data)
            return
        if klass == "object":
            return
        klass = getattr(models, klass)
    if not isinstance(data, dict):
        fail(f"{path}: expected a {klass.__name__} object, got {data!r}")
    inst = klass()
    known = {inst.attribute_map[attr]: typ for attr, typ in inst.swagger_types.items()}
    unknown = sorted(set(data) - set(known))
    if unknown:
        fail(f"{path}: fields unknown to SDK model {klass.__name__}: {unknown}")
    for key, value in data.items():
        strict(value, known[key], f"{path}.{key}")


def no_outdated_enums(obj, path):
    if isinstance(obj, str):
        if obj == "outdated_sdk_version":
            fail(f"{path}: enum value unknown to the SDK")
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            no_outdated_enums(item, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            no_outdated_enums(v, f"{path}.{k}")
    elif hasattr(obj, "to_dict"):
        no_outdated_enums(obj.to_dict(), path)


_original_deserialize = ApiClient.deserialize


def checked_deserialize(self, response, response_type):
    raw = json.loads(response.data) if response.data else None
    strict(raw, response_type, response_type)
    obj = _original_deserialize(self, response, response_type)
    no_outdated_enums(obj, response_type)
    CHECKED.append(response_type)
    return obj


ApiClient.deserialize = checked_deserialize


def make(cls, **fields):
    """Builds an SDK model (its constructor takes no arguments) and sets its attributes."""
    obj = cls()
    for name, value in fields.items():
        setattr(obj, name, value)
    return obj


class RawResponse:
    def __init__(self, data):
        self.data = data

    def getheader(self, name):
        return "application/json" if name.lower() == "content-type" else None


def error_body(api_client, exc, status, code):
    """Checks an ApiException carries an ErrorBody with this status and code."""
    if exc.status != status:
        fail(f"expected HTTP {status}, got {exc.status}: {exc.body}")
    body = api_client.deserialize(RawResponse(exc.body), "ErrorBody")
    if body.status != status or body.code != code:
        fail(f"expected ErrorBody {status} {code}, got {body.status} {body.code}")
    if not body.context_id:
        fail("ErrorBody without contextId")
    return body


def expect_api_error(api_client, call, status, code):
    try:
        call()
    except ApiException as exc:
        return error_body(api_client, exc, status, code), exc
    fail(f"expected an error {status} {code}, the call succeeded")


def admin(base_url, path, body):
    req = urllib.request.Request(
        base_url + "/__sandbox" + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req) as resp:
        return json.loads(resp.read() or b"null")


def login(base_url, client_id, client_secret):
    sdk.configuration.host = base_url
    api_client = ApiClient()
    if api_client.get_conf_url("login", base_url) != base_url:
        fail("the SDK would not log in on the sandbox host")
    return api_client.get_client_credentials_token(client_id, client_secret)


def main():
    base_url, client_id, client_secret, from_number = sys.argv[1:5]
    api_client = login(base_url, client_id, client_secret)
    if not api_client.access_token:
        fail("no access token")
    # A wrong secret is refused (the SDK raises on the OAuth error).
    try:
        login(base_url, client_id, "wrong-secret")
        fail("a wrong secret was accepted")
    except ApiException as exc:
        if exc.status != 401:
            fail(f"wrong secret: expected 401, got {exc.status}")

    rm = sdk.ResponseManagementApi(api_client)
    library = rm.post_responsemanagement_libraries(make(models.Library, name="Herald campaigns"))
    libraries = rm.get_responsemanagement_libraries(page_size=25, page_number=1)
    if library.id not in [l.id for l in libraries.entities] or libraries.total < 1:
        fail("created library not listed")

    text = make(models.ResponseText, content="Your order {{order_id}} has shipped.", content_type="text/plain")
    created = rm.post_responsemanagement_responses(
        make(models.Response, 
            name="order-shipped",
            libraries=[make(models.DomainEntityRef, id=library.id)],
            response_type="CampaignSmsTemplate",
            texts=[text],
            substitutions=[make(models.ResponseSubstitution, id="order_id", default_value="-")],
        )
    )
    if created.version != 1 or created.response_type != "CampaignSmsTemplate":
        fail(f"unexpected created response {created}")
    fetched = rm.get_responsemanagement_response(created.id)
    if fetched.texts[0].content != text.content:
        fail("fetched text differs")

    fetched.texts = [make(models.ResponseText, content="Order {{order_id}} shipped.", content_type="text/plain")]
    updated = rm.put_responsemanagement_response(created.id, fetched)
    if updated.version != 2 or updated.texts[0].content != "Order {{order_id}} shipped.":
        fail(f"update did not apply: {updated}")

    stale = make(models.Response, 
        name="order-shipped",
        version=1,
        libraries=[make(models.DomainEntityRef, id=library.id)],
        texts=[make(models.ResponseText, content="stale", content_type="text/plain")],
    )
    expect_api_error(api_client, lambda: rm.put_responsemanagement_response(created.id, stale), 409, "conflict")
    expect_api_error(api_client, lambda: rm.get_responsemanagement_response("missing"), 404, "not.found")

    listing = rm.get_responsemanagement_responses(library.id)
    if [r.id for r in listing.entities] != [created.id]:
        fail("responses list by libraryId is wrong")
    results = rm.post_responsemanagement_responses_query(
        make(models.ResponseQueryRequest, 
            filters=[
                make(models.ResponseFilter, name="libraryId", operator="EQUALS", values=[library.id]),
                make(models.ResponseFilter, name="responseType", operator="EQUALS", values=["CampaignSmsTemplate"]),
                make(models.ResponseFilter, name="name", operator="EQUALS", values=["order-shipped"]),
            ]
        )
    )
    if [r.id for r in results.results.entities] != [created.id]:
        fail("response query did not find the template")

    conv = sdk.ConversationsApi(api_client)
    sent = conv.post_conversations_messages_agentless(
        make(models.SendAgentlessOutboundMessageRequest, 
            from_address=from_number,
            to_address="+13175550100",
            to_address_messenger_type="sms",
            text_body="Order ORD-1 shipped.",
        )
    )
    if not sent.id or not sent.conversation_id or sent.message.status != "queued":
        fail(f"unexpected agentless response {sent}")
    details = conv.get_conversations_message_details(sent.id)
    if details.id != sent.id or details.status not in ("queued", "sent", "delivery-success"):
        fail(f"unexpected message details {details}")
    deadline = time.time() + 10
    while details.status != "delivery-success":
        if time.time() > deadline:
            fail(f"message never delivered: {details.status}")
        time.sleep(0.2)
        details = conv.get_conversations_message_details(sent.id)
    bad = make(models.SendAgentlessOutboundMessageRequest, 
        from_address=from_number, to_address="3175550100", to_address_messenger_type="sms", text_body="x"
    )
    err, _ = expect_api_error(api_client, lambda: conv.post_conversations_messages_agentless(bad), 400, "invalid.value")
    if [d.field_name for d in err.details] != ["toAddress"]:
        fail(f"validation error does not name toAddress: {err}")

    email = conv.post_conversations_emails_agentless(
        make(models.AgentlessEmailSendRequestDto, 
            sender_type="Outbound",
            from_address=make(models.EmailAddress, email="news@example.com", name="News"),
            to_addresses=[make(models.EmailAddress, email="customer@example.org")],
            subject="Your receipt",
            html_body="<p>Thanks</p>",
        )
    )
    if not email.id or email.subject != "Your receipt":
        fail(f"unexpected email response {email}")

    outbound = sdk.OutboundApi(api_client)
    dnc = outbound.post_outbound_dnclists(
        make(models.DncListCreate, name="herald opt-outs", dnc_source_type="rds", contact_method="Phone")
    )
    outbound.post_outbound_dnclist_phonenumbers(dnc.id, ["+13175550100"])
    if outbound.get_outbound_dnclist(dnc.id).size != 1:
        fail("DNC list size not updated")
    if outbound.get_outbound_dnclists(name="herald").total != 1:
        fail("DNC list not listed")

    # Outbound messaging campaigns: a contact list, its contacts (uploaded twice: idempotent),
    # read back in bulk, a campaign bound to the CampaignSmsTemplate, its version check, and
    # the dispatcher's progress and per-contact evaluations.
    contact_list = outbound.post_outbound_contactlists(
        make(models.ContactList,
            name="herald wave 1",
            column_names=["phone", "name", "tz"],
            phone_columns=[make(models.ContactPhoneNumberColumn, column_name="phone", type="cell", callable_time_column="tz")],
            automatic_time_zone_mapping=False,
        )
    )
    if contact_list.version != 1 or contact_list.phone_columns[0].callable_time_column != "tz":
        fail(f"unexpected contact list {contact_list}")
    wave = [
        make(models.WritableDialerContact, id=f"k{i}", contact_list_id=contact_list.id,
             data={"phone": f"+1317555020{i}", "name": f"N{i}", "tz": "America/New_York"}, callable=True)
        for i in range(2)
    ]
    for _ in range(2):
        added = outbound.post_outbound_contactlist_contacts(
            contact_list.id, wave, priority=False, clear_system_data=False, do_not_queue=True)
        if [c.id for c in added] != ["k0", "k1"] or added[0].contact_list_id != contact_list.id:
            fail(f"unexpected added contacts {added}")
    if outbound.get_outbound_contactlist(contact_list.id).size is not None:
        fail("size reported without includeSize")
    if outbound.get_outbound_contactlist(contact_list.id, include_size=True).size != 2:
        fail("re-uploading the same contact ids changed the list size")
    bulk = outbound.post_outbound_contactlist_contacts_bulk(contact_list.id, ["k1", "k0"])
    if [c.id for c in bulk] != ["k1", "k0"] or bulk[0].data["phone"] != "+13175550201":
        fail(f"unexpected bulk read {bulk}")

    def sms_campaign(**sms):
        return make(models.MessagingCampaign,
            name="herald wave 1",
            contact_list=make(models.DomainEntityRef, id=contact_list.id),
            campaign_status="off",
            messages_per_minute=600,
            dnc_lists=[make(models.DomainEntityRef, id=dnc.id)],
            contact_sorts=[make(models.ContactSort, field_name="phone", direction="ASC", numeric=False)],
            sms_config=make(models.SmsConfig,
                phone_column="phone",
                sender_sms_phone_number=make(models.SmsPhoneNumberRef, phone_number=from_number),
                **sms,
            ),
        )

    template_ref = make(models.DomainEntityRef, id=created.id)
    expect_api_error(api_client, lambda: outbound.post_outbound_messagingcampaigns(
        sms_campaign(content_template=template_ref, message_column="name")), 400, "invalid.value")
    campaign = outbound.post_outbound_messagingcampaigns(sms_campaign(content_template=template_ref))
    if campaign.campaign_status != "off" or campaign.version != 1 or campaign.sms_config.content_template.id != created.id:
        fail(f"unexpected campaign {campaign}")
    fetched_campaign = outbound.get_outbound_messagingcampaign(campaign.id)
    fetched_campaign.messages_per_minute = 1200
    updated_campaign = outbound.put_outbound_messagingcampaign(campaign.id, fetched_campaign)
    if updated_campaign.version != 2 or updated_campaign.messages_per_minute != 1200:
        fail(f"campaign update did not apply: {updated_campaign}")
    expect_api_error(api_client, lambda: outbound.put_outbound_messagingcampaign(campaign.id, campaign), 409, "conflict")
    progress = outbound.get_outbound_messagingcampaign_progress(campaign.id)
    if progress.total_number_of_contacts != 2 or progress.number_of_contacts_messaged != 0:
        fail(f"unexpected progress before start {progress}")
    diagnostics = outbound.get_outbound_messagingcampaign_diagnostics(campaign.id)
    if diagnostics.time_zone_rescheduled_contacts_count != 0:
        fail(f"unexpected diagnostics {diagnostics}")
    updated_campaign.campaign_status = "on"
    outbound.put_outbound_messagingcampaign(campaign.id, updated_campaign)
    deadline = time.time() + 10
    while outbound.get_outbound_messagingcampaign(campaign.id).campaign_status != "complete":
        if time.time() > deadline:
            fail("the messaging campaign never completed")
        time.sleep(0.2)
    progress = outbound.get_outbound_messagingcampaign_progress(campaign.id)
    if progress.number_of_contacts_messaged != 2 or progress.percentage != 100:
        fail(f"unexpected progress after the run {progress}")
    all_progress = outbound.post_outbound_messagingcampaigns_progress([campaign.id])
    if [p.campaign.id for p in all_progress] != [campaign.id]:
        fail(f"unexpected bulk progress {all_progress}")
    evaluated = outbound.post_outbound_contactlist_contacts_bulk(contact_list.id, ["k0"])
    evaluation = evaluated[0].latest_sms_evaluations["phone"]
    if evaluation.wrapup_code_id != "OUTBOUND_MESSAGE_SENT" or evaluation.message_type != "Sms" or not evaluation.timestamp:
        fail(f"unexpected evaluation {evaluation}")

    outbound.delete_outbound_messagingcampaign_progress(campaign.id)
    if outbound.get_outbound_messagingcampaign_progress(campaign.id).number_of_contacts_messaged != 0:
        fail("DELETE …/progress did not reset the progress")
    outbound.post_outbound_messagingcampaign_stop(campaign.id)
    if outbound.get_outbound_messagingcampaign(campaign.id).campaign_status != "off":
        fail("a reset complete campaign is not off")
    deleted = outbound.delete_outbound_messagingcampaign(campaign.id)
    if deleted.id != campaign.id:
        fail(f"unexpected deleted campaign {deleted}")
    outbound.delete_outbound_contactlist(contact_list.id)
    expect_api_error(api_client, lambda: outbound.get_outbound_contactlist(contact_list.id), 404, "not.found")
    outbound.patch_outbound_dnclist_phonenumbers(
        dnc.id, make(models.DncPatchPhoneNumbersRequest, action="Add", phone_numbers=["+13175550199"]))
    if outbound.get_outbound_dnclist(dnc.id).size != 2:
        fail("PATCH …/phonenumbers did not add the number")
    time_set = outbound.post_outbound_callabletimesets(make(models.CallableTimeSet,
        name="daytime",
        callable_times=[make(models.CallableTime, time_zone_id="America/New_York", time_slots=[
            make(models.CampaignTimeSlot, start_time="08:00:00", stop_time="20:00:00", day=d) for d in range(1, 8)])],
    ))
    if outbound.get_outbound_callabletimeset(time_set.id).callable_times[0].time_zone_id != "America/New_York":
        fail(f"unexpected callable time set {time_set}")

    now = datetime.datetime.now(datetime.timezone.utc)
    interval = f"{(now - datetime.timedelta(hours=1)).isoformat()}/{(now + datetime.timedelta(hours=1)).isoformat()}"
    found = sdk.AnalyticsApi(api_client).post_analytics_conversations_details_query(
        make(models.ConversationQuery, 
            interval=interval,
            segment_filters=[
                make(models.SegmentDetailQueryFilter, 
                    type="and",
                    predicates=[
                        make(models.SegmentDetailQueryPredicate, type="dimension", dimension="addressTo", operator="matches", value="+13175550100"),
                        make(models.SegmentDetailQueryPredicate, type="dimension", dimension="direction", value="outbound"),
                    ],
                )
            ],
        )
    )
    if found.total_hits != 1 or found.conversations[0].conversation_id != sent.conversation_id:
        fail(f"analytics did not find the sent conversation: {found}")

    limits = sdk.OrganizationApi(api_client).get_organizations_limits_namespace("platform.api")
    if not any(l.value == 300 for l in limits.entities):
        fail(f"limits do not report 300: {limits}")

    # What `herald doctor` reads: who the token is, what it may do, the org's numbers and
    # domains; and each failure set-up of the admin API.
    tokens = sdk.TokensApi(api_client).get_tokens_me()
    if tokens.o_auth_client.id != client_id or tokens.o_auth_client.authorized_grant_type != "CLIENT-CREDENTIALS":
        fail(f"unexpected token info {tokens}")
    if not tokens.o_auth_client.role_divisions:
        fail("token info without role divisions")
    authz = sdk.AuthorizationApi(api_client)

    def permissions():
        subject = authz.get_authorization_subjects_me(include_full_roles=True)
        return {
            f"{p.domain}:{p.entity_name}:{a}"
            for g in subject.grants
            for p in (g.role.policies or [])
            for a in p.actions
        }

    granted = permissions()
    for needed in ("conversation:message:create", "responses:response:add", "analytics:conversationDetail:view", "outbound:dnc:add"):
        if needed not in granted:
            fail(f"{needed} not granted: {sorted(granted)}")
    if any(g.role.policies for g in authz.get_authorization_subjects_me().grants):
        fail("role policies returned without includeFullRoles")
    routing = sdk.RoutingApi(api_client)
    numbers = routing.get_routing_sms_phonenumbers(page_size=25, page_number=1)
    if [n.phone_number for n in numbers.entities] != [from_number] or numbers.entities[0].phone_number_status != "ACTIVE":
        fail(f"unexpected SMS numbers {numbers}")
    if routing.get_routing_sms_phonenumbers(phone_number="1317*").total != 0:
        fail("phoneNumber filter ignored")
    domains = routing.get_routing_email_outbound_domains(page_size=25, page_number=1)
    if [d.id for d in domains.entities] != ["example.com"]:
        fail(f"unexpected outbound domains {domains}")
    if routing.get_routing_email_outbound_domain("example.com").name != "example.com":
        fail("outbound domain by id")
    expect_api_error(api_client, lambda: routing.get_routing_email_outbound_domain("elsewhere.test"), 404, "not.found")
    reduced = sorted(granted - {"conversation:message:create"})
    admin(base_url, "/org", {"smsNumbers": [], "emailDomains": [], "permissions": reduced})
    if routing.get_routing_sms_phonenumbers().total != 0 or routing.get_routing_email_outbound_domains().total != 0:
        fail("unprovisioned number or removed domain still listed")
    if "conversation:message:create" in permissions():
        fail("dropped permission still granted")
    send_one = lambda: conv.post_conversations_messages_agentless(
        make(models.SendAgentlessOutboundMessageRequest, from_address=from_number, to_address="+13175550101",
             to_address_messenger_type="sms", text_body="x"))
    err, _ = expect_api_error(api_client, send_one, 403, "missing.any.permissions")
    if "conversation:message:create" not in err.message:
        fail(f"403 does not name the permission: {err.message}")
    admin(base_url, "/org", {"permissions": sorted(granted)})
    expect_api_error(api_client, send_one, 400, "invalid.value")
    admin(base_url, "/org", {"smsNumbers": [from_number], "emailDomains": ["example.com"],
                             "permissions": sorted(granted)})

    # Bulk reconcile: the details query by sender, paged.
    page1 = sdk.AnalyticsApi(api_client).post_analytics_conversations_details_query(
        make(models.ConversationQuery,
            interval=interval,
            order="asc",
            order_by="conversationStart",
            segment_filters=[
                make(models.SegmentDetailQueryFilter,
                    type="and",
                    predicates=[make(models.SegmentDetailQueryPredicate, type="dimension", dimension="addressFrom", operator="matches", value=from_number)],
                )
            ],
            paging=make(models.PagingSpec, page_size=1, page_number=1),
        )
    )
    # The agentless SMS and the campaign's two messages.
    if page1.total_hits != 3 or len(page1.conversations) != 1:
        fail(f"paged query by addressFrom: {page1}")

    # 429 handling as the SDK ships it: urllib3 honours Retry-After (seconds) and retries.
    admin(base_url, "/faults", {"burst_429": 2, "burst_retry_after_secs": 1})
    started = time.monotonic()
    rm.get_responsemanagement_libraries()
    waited = time.monotonic() - started
    if waited < 2.0:
        fail(f"the SDK did not wait out two Retry-After: 1 answers (took {waited:.2f}s)")
    admin(base_url, "/faults", {})

    # The 429 itself, as an ApiException, with transport retries disabled on a fresh client.
    admin(base_url, "/rate-limit", {"perMinute": 2})
    raw_client = login(base_url, client_id, client_secret)
    raw_client.get_http_client().rest_client.pool_manager.connection_pool_kw["retries"] = False
    raw_client.get_http_client().rest_client.pool_manager.clear()
    raw_rm = sdk.ResponseManagementApi(raw_client)
    raw_rm.get_responsemanagement_libraries()
    raw_rm.get_responsemanagement_libraries()
    _, exc = expect_api_error(raw_client, raw_rm.get_responsemanagement_libraries, 429, "too.many.requests.retry.after")
    retry_after = exc.headers.get("Retry-After")
    if retry_after is None or not retry_after.isdigit() or not 1 <= int(retry_after) <= 60:
        fail(f"429 without a Retry-After in seconds: {retry_after!r}")
    admin(base_url, "/rate-limit", {"perMinute": 300})

    print(f"conformance ok: {len(CHECKED)} responses strictly checked: {sorted(set(CHECKED))}")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as err:
        print(f"conformance FAILED: {err}", file=sys.stderr)
        sys.exit(1)
