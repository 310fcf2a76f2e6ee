"""Sharing in a real headless Chromium: the Share dialog (alice shares a folder with bob, who
accepts in a browser of his own; roles changed and members removed), roles shown and kept on the
pages, the server's refusals shown in the dialog, and names that try to be markup."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from tests.metaserver.pages.conftest import api_call, put_file, sign_in_page

pytestmark = pytest.mark.asyncio(loop_scope="session")


@asynccontextmanager
async def browser_of(browser, live, user: str):
    """A browser context of its own, signed in as ``user``; confirm() is answered yes. Yields the
    page and the script errors it had."""
    context = await browser.new_context(accept_downloads=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    async def on_dialog(d):
        await d.accept()

    page.on("dialog", on_dialog)
    await sign_in_page(page, live.meta_url, user)
    try:
        yield page, errors
    finally:
        await context.close()


def share_dialog(page):
    return page.locator("#dlg-share")


async def test_alice_shares_a_folder_with_bob_who_accepts_and_is_managed(tab, live, browser):
    token = await live.login()
    await put_file(live, token, "/Team/plan.txt", b"the plan")
    await live.add_user("bob")
    await tab.sign_in()
    page = tab.page
    await page.get_by_role("button", name="Share Team").click()
    dlg = share_dialog(page)
    await dlg.get_by_text("Only you can see this folder.").wait_for()
    await dlg.get_by_role("button", name="Share this folder").click()
    await dlg.get_by_text("You share this folder.").wait_for()
    await dlg.get_by_label("User name").fill("bob")
    await dlg.get_by_label("Role", exact=True).select_option("viewer")
    await dlg.get_by_role("button", name="Invite", exact=True).click()
    await dlg.get_by_role("button", name="Cancel the invitation of bob").wait_for()
    assert await dlg.get_by_text("invited as a viewer").count() == 1
    await dlg.get_by_role("button", name="Close").click()
    team = page.locator('tr[data-path="/Team"]')
    await team.locator(".badge.role", has_text="owner").wait_for()  # the listing redrew: a shared folder now
    assert await team.locator("svg.icon-shared").count() == 1

    async with browser_of(browser, live, "bob") as (bob, bob_errors):
        await bob.get_by_role("link", name="An invitation to a shared folder is waiting for you").click()
        await bob.wait_for_url("**/shares")
        invitation = bob.locator("form.invitation")
        assert "alice invites you to Team as a viewer" in await invitation.inner_text()
        await bob.get_by_role("button", name="Accept the invitation to Team").click()
        await bob.get_by_text("No invitations are waiting for you.").wait_for()
        row = bob.locator('#share-listing tr[data-path="/Team"]')
        assert [c.strip() for c in await row.locator("td").all_inner_texts()][:3] == ["/Team", "viewer", "alice"]
        await bob.goto(live.meta_url + "/files/")
        badge = bob.locator('tr[data-path="/Team"] .badge.role')
        assert await badge.get_attribute("data-role") == "viewer" and (await badge.inner_text()).endswith("viewer")
        await bob.get_by_role("link", name="Team", exact=True).click()
        await bob.locator('tr[data-path="/Team/plan.txt"]').wait_for()
        assert await bob.locator(".share-banner .share-role").inner_text() == "viewer"
        for hidden in ("#pick-files", "#pick-folder", '[data-action="mkdir"]', '[data-action="rename"]',
                       '[data-action="delete"]', '[data-action="link"]'):  # fmt: skip
            assert await bob.locator(hidden).count() == 0, hidden
        await bob.goto(live.meta_url + "/files/Team/plan.txt")  # a file's page: no changes either
        assert await bob.get_by_role("button", name="Rename").count() == 0
        assert await bob.get_by_role("link", name="Download", exact=True).count() == 1

        # alice makes bob an editor: his page offers uploads after a reload
        await page.get_by_role("button", name="Share Team").click()
        await dlg.get_by_label("Role of bob").select_option("editor")
        await page.locator("#toast", has_text="bob is now an editor").wait_for()
        status, shares = await api_call(live, await live.login("bob"), "GET", "/v1/shares")
        assert [s["role"] for s in shares["shares"]] == ["editor"]
        await bob.goto(live.meta_url + "/files/Team")
        assert await bob.locator(".share-banner .share-role").inner_text() == "editor"
        assert await bob.get_by_role("button", name="Rename plan.txt").count() == 1
        assert await bob.locator('label[for="pick-files"]').count() == 1

        # alice removes bob: the folder is gone from his files
        await dlg.get_by_role("button", name="Remove bob").click()
        await dlg.locator('tr[data-user="bob"]').wait_for(state="detached")
        await bob.wait_for_url(live.meta_url + "/files/")  # his open page heard it and went up a level
        await bob.reload()
        assert await bob.locator('tr[data-path="/Team"]').count() == 0
        assert (await bob.goto(live.meta_url + "/files/Team")).status == 404
        assert bob_errors == []
    assert tab.errors == []


async def test_the_server_refuses_what_the_page_still_offers_and_the_dialog_says_why(tab, live, browser):
    alice = await live.login()
    await put_file(live, alice, "/Team/plan.txt", b"the plan")
    await live.add_user("bob")
    bob_token = await live.login("bob")
    await api_call(live, alice, "POST", "/v1/shares", {"path": "/Team"})
    status, inv = await api_call(live, alice, "POST", "/v1/shares/invite", {"path": "/Team", "user": "bob", "role": "editor"})
    await api_call(live, bob_token, "POST", "/v1/shares/accept", {"id": inv["id"]})
    async with browser_of(browser, live, "bob") as (bob, errors):
        await bob.goto(live.meta_url + "/files/Team")
        # the page would hear of the role change from the change feed and redraw as a viewer's:
        # held here, so that it still offers what an editor may, as a page that missed it would
        held: list = []
        await bob.route(lambda url: "/v1/changes" in url, lambda route: held.append(route))
        await api_call(live, alice, "POST", "/v1/shares/role", {"path": "/Team", "user": "bob", "role": "viewer"})
        await bob.get_by_role("button", name="Get a link to plan.txt").click()  # drawn when bob was an editor
        await bob.locator("#dlg-link").get_by_role("button", name="Create link").click()
        alert = bob.locator("#dlg-link .error")
        await alert.wait_for()
        assert (await alert.inner_text()).startswith("Not allowed:")
        await bob.locator("#dlg-link").get_by_role("button", name="Close").click()
        await bob.unroute_all(behavior="ignoreErrors")
        # the People dialog of a member: who is in it, no membership controls, and Leave
        await bob.locator(".share-banner").get_by_role("button", name="People").click()
        dlg = share_dialog(bob)
        await dlg.get_by_text("Shared with you by alice. You are a viewer: you can open it, not change it.").wait_for()
        assert await dlg.locator("tbody tr").count() == 2
        assert await dlg.locator("select, #invite-user").evaluate_all("els => els.filter(e => e.offsetParent).length") == 0
        assert await dlg.get_by_role("button", name="Remove").count() == 0
        await dlg.get_by_role("button", name="Leave this folder").click()
        await bob.wait_for_url(live.meta_url + "/files/")
        assert await bob.locator('tr[data-path="/Team"]').count() == 0
        assert errors == []
    status, shares = await api_call(live, alice, "GET", "/v1/shares")
    assert [m["user"] for m in shares["shares"][0]["members"]] == ["alice"]


async def test_accept_at_a_chosen_path_decline_and_stop_sharing(tab, live, browser):
    await live.add_user("bob")
    bob = await live.login("bob")
    for folder in ("/Plans", "/Music"):
        await put_file(live, bob, folder + "/x.txt", b"x")
        await api_call(live, bob, "POST", "/v1/shares", {"path": folder})
        await api_call(live, bob, "POST", "/v1/shares/invite", {"path": folder, "user": "alice", "role": "editor"})
    await tab.sign_in()
    tab.accept_dialogs = True
    page = tab.page
    await page.get_by_role("link", name="2 invitations to shared folders are waiting for you").click()
    await page.get_by_label("Put Plans in your files at (optional)").fill("Work/From bob")
    await page.get_by_role("button", name="Accept the invitation to Plans").click()
    await page.locator("#toast", has_text="Plans is in your files at /Work/From bob").wait_for()
    await page.get_by_role("button", name="Decline the invitation to Music").click()
    await page.get_by_text("No invitations are waiting for you.").wait_for()
    await page.locator('#share-listing tr[data-path="/Work/From bob"]').wait_for()
    status, shares = await api_call(live, await live.login(), "GET", "/v1/shares")
    assert [(s["path"], s["role"]) for s in shares["shares"]] == [("/Work/From bob", "editor")]
    # bob stops sharing Plans from the sharing page: it leaves alice's files
    async with browser_of(browser, live, "bob") as (bob_page, errors):
        await bob_page.goto(live.meta_url + "/shares")
        await bob_page.get_by_role("button", name="People of /Plans").click()
        await share_dialog(bob_page).get_by_role("button", name="Stop sharing").click()
        await bob_page.locator('#share-listing tr[data-path="/Plans"]').wait_for(state="detached")
        assert errors == []
    await page.goto(live.meta_url + "/files/Work")
    assert await page.locator("tbody tr").count() == 0


async def test_a_viewer_share_hides_changes_and_the_server_still_refuses_them(tab, live):
    await live.add_user("bob")
    bob = await live.login("bob")
    await put_file(live, bob, "/Photos/a.txt", b"a")
    await api_call(live, bob, "POST", "/v1/shares", {"path": "/Photos"})
    _, inv = await api_call(live, bob, "POST", "/v1/shares/invite", {"path": "/Photos", "user": "alice", "role": "viewer"})
    await api_call(live, await live.login(), "POST", "/v1/shares/accept", {"id": inv["id"]})
    await tab.sign_in()
    await tab.page.goto(live.meta_url + "/files/Photos")
    await tab.page.locator('tr[data-path="/Photos/a.txt"]').wait_for()
    assert await tab.page.get_by_role("button", name="New folder").count() == 0
    # the page's own API call, as a script of the page would make it: refused
    answer = await tab.page.evaluate(
        """async () => { try { await Tessera.api("POST", "/v1/files/mkdir", {path: "/Photos/new"}); return "made"; }
                         catch (e) { return e.status + " " + e.code; } }"""
    )
    assert answer == "403 read_only"


MARKUP_USER = '"><img/src=x/onerror=alert(1)>'
MARKUP_FOLDER = "<svg onload=alert(2)> & <b>team<b>"


async def test_user_and_share_names_that_look_like_markup_stay_text(tab, live):
    await live.add_user(MARKUP_USER)
    evil = await live.login(MARKUP_USER)
    await put_file(live, evil, f"/{MARKUP_FOLDER}/a.txt", b"a")
    await api_call(live, evil, "POST", "/v1/shares", {"path": "/" + MARKUP_FOLDER})
    await api_call(live, evil, "POST", "/v1/shares/invite", {"path": "/" + MARKUP_FOLDER, "user": "alice", "role": "viewer"})
    await tab.page.add_init_script("window.__xss = []; window.alert = (m) => window.__xss.push(m);")
    await tab.sign_in()
    page = tab.page
    await page.goto(live.meta_url + "/shares")
    invitation = page.locator("form.invitation")
    await invitation.wait_for()
    assert f"{MARKUP_USER} invites you to {MARKUP_FOLDER} as a viewer" in await invitation.inner_text()
    await page.get_by_role("button", name=f"Accept the invitation to {MARKUP_FOLDER}").click()
    await page.get_by_role("link", name="/" + MARKUP_FOLDER, exact=True).wait_for()
    assert await page.locator("#share-listing td", has_text=MARKUP_USER).count() == 1
    await page.get_by_role("button", name=f"People of /{MARKUP_FOLDER}").click()
    dlg = share_dialog(page)
    await dlg.get_by_text(f"Shared with you by {MARKUP_USER}").wait_for()
    assert await dlg.locator(".target-name").inner_text() == MARKUP_FOLDER
    assert await page.locator("main img, main svg:not(.icon), dialog img, dialog b").count() == 0
    await page.goto(live.meta_url + "/files/")
    assert await page.get_by_role("link", name=MARKUP_FOLDER, exact=True).count() == 1
    assert await page.evaluate("window.__xss") == []
    assert tab.errors == [] and tab.dialogs == []


async def test_share_from_the_keyboard(tab, live):
    await live.add_user("bob")
    await api_call(live, await live.login(), "POST", "/v1/files/mkdir", {"path": "/Team"})
    await tab.sign_in()
    page = tab.page
    await page.get_by_role("button", name="Share Team").focus()
    await page.keyboard.press("Enter")
    start = share_dialog(page).get_by_role("button", name="Share this folder")
    await start.wait_for()
    await page.wait_for_timeout(100)
    assert await start.evaluate("b => b === document.activeElement")
    await page.keyboard.press("Enter")
    user = share_dialog(page).get_by_label("User name")
    await user.wait_for()
    await page.wait_for_timeout(100)
    assert await user.evaluate("i => i === document.activeElement")
    await page.keyboard.type("bob")
    await page.keyboard.press("Enter")  # the role stays viewer
    await share_dialog(page).get_by_role("button", name="Cancel the invitation of bob").wait_for()
    await page.keyboard.press("Escape")
    assert not await share_dialog(page).evaluate("d => d.open")
    status, shares = await api_call(live, await live.login(), "GET", "/v1/shares")
    assert [(i["invitee"], i["role"]) for i in shares["shares"][0]["invitations"]] == [("bob", "viewer")]


async def test_sharing_fits_a_phone(browser, live):
    token = await live.login()
    await live.add_user("bob")
    await put_file(live, token, "/A shared folder with a rather long name/notes.txt", b"x")
    await api_call(live, token, "POST", "/v1/shares", {"path": "/A shared folder with a rather long name"})
    await api_call(live, token, "POST", "/v1/shares/invite",
                   {"path": "/A shared folder with a rather long name", "user": "bob", "role": "editor"})  # fmt: skip
    await api_call(live, token, "POST", "/v1/links", {"path": "/A shared folder with a rather long name/notes.txt"})
    context = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True)
    try:
        page = await context.new_page()
        await sign_in_page(page, live.meta_url)
        fits = "document.scrollingElement.scrollWidth <= window.innerWidth"
        assert await page.evaluate(fits)
        await page.get_by_role("button", name="Share A shared folder with a rather long name").click()
        await share_dialog(page).get_by_role("button", name="Cancel the invitation of bob").wait_for()
        assert await page.evaluate(fits)
        assert await share_dialog(page).evaluate("d => d.getBoundingClientRect().right <= window.innerWidth")
        await page.keyboard.press("Escape")
        for where in ("/shares", "/links", "/files/A shared folder with a rather long name"):
            await page.goto(live.meta_url + where)
            await page.locator("main", has_text="Loading…").wait_for(state="detached")
            assert await page.evaluate(fits), where
        await page.get_by_role("button", name="Get a link to notes.txt").click()
        await page.locator("#dlg-link .link-items li").wait_for()
        assert await page.locator("#dlg-link").evaluate("d => d.getBoundingClientRect().right <= window.innerWidth")
    finally:
        await context.close()
