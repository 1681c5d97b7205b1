"""An existing, unmodified Twitch API client library (twitchAPI on PyPI) works against
StreamHub by changing only its base URLs: app token, user OAuth through our consent page,
Helix reads and writes, chat, moderation, and EventSub over WebSocket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from twitchAPI.eventsub.websocket import EventSubWebsocket
from twitchAPI.helper import first
from twitchAPI.oauth import UserAuthenticator
from twitchAPI.twitch import Twitch
from twitchAPI.type import AuthScope

from tests.api.conftest import ApiNode
from tests.api.test_oauth2 import REDIRECT, consent, make_app, new_login
from tests.api.webclient import Browser, location_params
from tests.system.irc_client import IrcClient

SCOPES = [
    AuthScope.CHANNEL_MANAGE_BROADCAST, AuthScope.MODERATOR_MANAGE_BANNED_USERS,
    AuthScope.MODERATOR_READ_CHAT_SETTINGS, AuthScope.MODERATOR_MANAGE_CHAT_SETTINGS,
    AuthScope.USER_WRITE_CHAT, AuthScope.MODERATOR_READ_FOLLOWERS, AuthScope.USER_READ_CHAT,
    AuthScope.MODERATION_READ,
]


async def wait_until(check: Any, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


@pytest.mark.timeout(240)
async def test_twitch_api_library_against_streamhub(api: ApiNode) -> None:
    app = make_app(api, REDIRECT)
    viewer = api.user()
    twitch = await Twitch(app.client_id, app.client_secret,
                          base_url=f"{api.base_url}/helix/",
                          auth_base_url=f"{api.base_url}/oauth2/")
    try:
        # app access token (client credentials) reads
        found = await first(twitch.get_users(logins=[viewer.login]))
        assert found is not None and found.id == viewer.uid and found.login == viewer.login
        music = [c async for c in twitch.search_categories("music")]
        assert any(c.name == "Music" for c in music)
        game = await first(twitch.get_games(names=["Music"]))
        assert game is not None and game.name == "Music"

        # user token: the library's own authenticator, the consent page in a "browser"
        auth = UserAuthenticator(twitch, SCOPES, url=REDIRECT,
                                 auth_base_url=f"{api.base_url}/oauth2/")
        auth_url = auth.return_auth_url()
        assert auth_url.startswith(f"{api.base_url}/oauth2/authorize?")
        browser = Browser(api.base_url)
        try:
            login = new_login()
            assert browser.signup(login, "a good long password").status_code == 303
            done = consent(browser, auth_url[len(api.base_url):])
            assert done.status_code == 302, done.text[:300]
            code = location_params(done)["code"]
        finally:
            browser.close()
        token, refresh = await auth.authenticate(user_token=code)
        await twitch.set_user_authentication(token, SCOPES, refresh)
        me = await first(twitch.get_users())
        assert me is not None and me.login == login

        # EventSub over WebSocket, via the library
        updates: list[Any] = []
        messages: list[Any] = []

        async def on_update(event: Any) -> None:
            updates.append(event)

        async def on_message(event: Any) -> None:
            messages.append(event)

        eventsub = EventSubWebsocket(
            twitch, connection_url=f"{api.base_url.replace('http', 'ws', 1)}/eventsub/ws",
            subscription_url=f"{api.base_url}/helix/")
        eventsub.start()
        try:
            await eventsub.listen_channel_update_v2(me.id, on_update)
            await eventsub.listen_channel_chat_message(me.id, me.id, on_message)

            # channel writes
            await twitch.modify_channel_information(me.id, game_id=game.id,
                                                    title="Live from twitchAPI")
            info = (await twitch.get_channel_information(me.id))[0]
            assert info.title == "Live from twitchAPI" and info.game_name == "Music"
            await wait_until(lambda: updates)
            assert updates[0].event.title == "Live from twitchAPI"

            # chat and moderation drive the real chat
            watcher = await IrcClient.tcp(api.proc.chat_irc_port)
            try:
                await watcher.login("justinfan4242", None)
                await watcher.join(me.login)
                sent = await twitch.send_chat_message(me.id, me.id, "hello from twitchAPI")
                assert sent.is_sent
                await watcher.expect(lambda m: m.command == "PRIVMSG"
                                     and m.params[-1] == "hello from twitchAPI")
                await wait_until(lambda: messages)
                assert messages[0].event.message.text == "hello from twitchAPI"

                ban = await twitch.ban_user(me.id, me.id, viewer.uid, "spam", duration=60)
                assert ban.user_id == viewer.uid and ban.end_time is not None
                await watcher.expect(lambda m: m.command == "CLEARCHAT"
                                     and m.params[-1] == viewer.login)
                banned = [b async for b in twitch.get_banned_users(me.id)]
                assert [b.user_id for b in banned] == [viewer.uid]

                settings = await twitch.update_chat_settings(me.id, me.id, slow_mode=True,
                                                             slow_mode_wait_time=10)
                assert settings.slow_mode and settings.slow_mode_wait_time == 10
                await watcher.expect(lambda m: m.command == "ROOMSTATE"
                                     and m.tags.get("slow") == "10")
            finally:
                await watcher.close()
            followers = await twitch.get_channel_followers(me.id)
            assert followers.total == 0
        finally:
            await eventsub.stop()
    finally:
        await twitch.close()
