"""The Temporal UI in a real browser, as an operator uses it on the embedded stack.

An operator finds a payment by our search attributes, opens its workflow, reads the search
attributes, and reads the workflow's input: the server holds only ciphertext, so the input
is readable only because the UI decodes it through our codec endpoint (``stack.codec_url``).
"""

import base64
import contextlib
import json
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Locator
from playwright.async_api import Page
from playwright.async_api import async_playwright
from playwright.async_api import expect

from schemas.runtime import payload_codec
from tests.e2e.conftest import create_payment
from tests.e2e.conftest import wait_for_status
from tests.support.browser import CHROMIUM_ARGS
from tests.support.browser import NOT_LOCAL
from tests.support.browser import artifacts_dir
from tests.support.browser import chromium_path
from workers.stack import NAMESPACE
from workers.stack import EmbeddedStack

# The UI is a single-page app: the first load and each payload decoding take a while.
UI_TIMEOUT_MS = 30_000
# The list reads the visibility store, which trails the workflow by a moment.
VISIBILITY_SECONDS = 60


@pytest.fixture
def chromium() -> str:
    """First in the tests' arguments: without a browser they skip before the stack starts."""
    return chromium_path()


@contextlib.asynccontextmanager
async def ui_page(chromium: str, screenshot: str) -> AsyncIterator[Page]:
    """A fresh headless Chromium page; on failure its last view is saved as ``screenshot``."""
    async with async_playwright() as playwright:
        # A non-persistent browser: Playwright gives it a fresh, temporary profile.
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1400, "height": 1200})
            page.set_default_timeout(UI_TIMEOUT_MS)
            await page.route(NOT_LOCAL, lambda route: route.abort())
            try:
                yield page
            except BaseException as failure:
                path = artifacts_dir() / screenshot
                # Best effort: a page that cannot be shot must not hide the real failure.
                with contextlib.suppress(Exception):
                    await page.screenshot(path=path, full_page=True)
                    failure.add_note(f"the page at the failure: {path}")
                raise
        finally:
            await browser.close()


async def succeeded_payment(api: httpx.AsyncClient, **overrides) -> dict:
    created = await create_payment(api, **overrides)
    assert created.status_code == 201, created.text
    return await wait_for_status(api, created.json()["payment_id"], "succeeded")


def workflow_id_of(payment: dict) -> str:
    return f"{payment['tenant_id']}:payment:{payment['payment_id']}"


def workflow_list_url(stack: EmbeddedStack, query: str) -> str:
    return f"{stack.ui_url}/namespaces/{NAMESPACE}/workflows?query={urllib.parse.quote(query)}"


async def find_in_list(page: Page, url: str, workflow_id: str) -> Locator:
    """The workflow's link in the list at ``url``, reloading until visibility has caught up."""
    link = page.get_by_role("link", name=workflow_id, exact=True)
    deadline = time.monotonic() + VISIBILITY_SECONDS
    await page.goto(url)
    while True:
        try:
            await expect(link).to_be_visible(timeout=10_000)
            return link
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await page.reload()


async def test_an_operator_finds_a_payment_by_its_search_attributes(chromium, stack, api):
    customer_id = f"cus_ui{uuid.uuid4().hex[:10]}"
    payment = await succeeded_payment(api, amount=4321, currency="USD", customer_id=customer_id)
    workflow_id = workflow_id_of(payment)
    query = (
        f'TenantId = "{payment["tenant_id"]}" AND CustomerId = "{customer_id}"'
        ' AND PaymentStatus = "succeeded"'
    )

    async with ui_page(chromium, "temporal-ui-search-attributes-failure.png") as page:
        link = await find_in_list(page, workflow_list_url(stack, query), workflow_id)
        await link.click()
        await expect(page.get_by_role("heading", name=workflow_id)).to_be_visible(
            timeout=UI_TIMEOUT_MS
        )

        await page.get_by_role("tab", name="Search Attributes").click()
        shown = page.get_by_role("textbox", name="Search Attributes")
        await expect(shown).to_contain_text('"PaymentStatus": "succeeded"', timeout=UI_TIMEOUT_MS)
        await page.screenshot(
            path=artifacts_dir() / "temporal-ui-search-attributes.png", full_page=True
        )
        attributes = json.loads(await shown.inner_text())

    expected = {
        "PaymentStatus": "succeeded",
        "TenantId": payment["tenant_id"],
        "CustomerId": customer_id,
        "AmountMinor": 4321,
        "Currency": "USD",
        "PaymentProvider": "sandbox",
    }
    assert {key: attributes.get(key) for key in expected} == expected


async def test_the_ui_shows_a_payment_input_decoded_through_the_codec_endpoint(
    chromium, stack, api
):
    customer_id = f"cus_ui{uuid.uuid4().hex[:10]}"
    # In the workflow input only (no search attribute carries it): readable only decoded.
    description = f"browser check {uuid.uuid4().hex[:8]}"
    payment = await succeeded_payment(api, customer_id=customer_id, description=description)
    workflow_id = workflow_id_of(payment)
    list_url = workflow_list_url(stack, f'WorkflowId = "{workflow_id}"')

    async with ui_page(chromium, "temporal-ui-payment-failure.png") as page:
        await (await find_in_list(page, list_url, workflow_id)).click()

        # The UI's codec status icon: "configured" until it has decoded something, then
        # "success" or "error" (a payload it can read by itself proves nothing).
        await expect(page.get_by_test_id("data-encoder-status-success")).to_be_visible(
            timeout=UI_TIMEOUT_MS
        )
        workflow_input = page.get_by_role("textbox", name="Input", exact=True)
        await expect(workflow_input).to_contain_text(
            f'"customer_id": "{customer_id}"', timeout=UI_TIMEOUT_MS
        )
        await expect(workflow_input).to_contain_text(
            f'"description": "{description}"', timeout=UI_TIMEOUT_MS
        )
        await expect(page.get_by_text("Codec Server could not connect")).to_have_count(0)
        await page.screenshot(path=artifacts_dir() / "temporal-ui-payment.png", full_page=True)

    # The control: with the codec endpoint out of reach, the UI has only the ciphertext.
    async with ui_page(chromium, "temporal-ui-payment-without-codec-failure.png") as page:
        await page.route("**/codec/**", lambda route: route.abort())
        await (await find_in_list(page, list_url, workflow_id)).click()

        await expect(page.get_by_test_id("data-encoder-status-error")).to_be_visible(
            timeout=UI_TIMEOUT_MS
        )
        workflow_input = page.get_by_role("textbox", name="Input", exact=True)
        # The raw Payloads message as the server stores it: encrypted (metadata in base64).
        encrypted = base64.b64encode(payload_codec.ENCODING).decode()
        await expect(workflow_input).to_contain_text(encrypted, timeout=UI_TIMEOUT_MS)
        await expect(workflow_input).not_to_contain_text(customer_id)
        await expect(workflow_input).not_to_contain_text(description)
