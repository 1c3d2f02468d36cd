"""Drives the directory routes through the pyforgejo SDK; its pydantic models reject a
response whose shape is wrong. Run by tests/e2e/directory.rs with FORGE_URL, FORGE_TOKEN
(alice), FORGE_ADMIN_TOKEN (root) and FORGE_TEAM_ID (acme's devs team, holding bob)."""

import os

from pyforgejo import PyforgejoApi

url = os.environ["FORGE_URL"]
alice = PyforgejoApi(base_url=url, api_key=os.environ["FORGE_TOKEN"])
root = PyforgejoApi(base_url=url, api_key=os.environ["FORGE_ADMIN_TOKEN"])
team = int(os.environ["FORGE_TEAM_ID"])

assert alice.miscellaneous.get_version().version.startswith("1.22.0+")
settings = alice.settings.get_general_api_settings()
assert settings.max_response_items == 50 and settings.default_paging_num == 30

assert alice.user.get_current().login == "alice"
assert alice.user.get("alice").login == "alice"
found = alice.user.search(q="ali")
assert [u.login for u in found.data] == ["alice"], found

assert [o.name for o in alice.organization.org_list_current_user_orgs()] == ["acme", "vault"]
assert [o.name for o in alice.organization.org_list_user_orgs("alice")] == ["acme", "vault"]
# Private organisations are listed to site admins only, members included (as in Gitea).
assert [o.name for o in alice.organization.org_get_all()] == ["acme"]
assert [o.name for o in root.admin.get_all_orgs()] == ["acme", "vault"]
assert [u.login for u in root.admin.search_users()] == ["alice", "bob", "root"]

teams = alice.organization.org_list_teams("acme")
assert sorted(t.name for t in teams) == ["Owners", "devs"], teams
assert [u.login for u in alice.organization.org_list_team_members(team)] == ["bob"]
assert alice.organization.org_list_team_member(team, "bob").login == "bob"
assert [u.login for u in alice.organization.org_list_members("acme")] == ["alice", "bob"]

edited = alice.organization.org_edit("acme", description="Rockets")
assert edited.description == "Rockets" and edited.name == "acme", edited
team_edit = alice.organization.org_edit_team(
    team, name="devs", description="SDK", permission="write",
    units_map={"repo.packages": "write"},
)
assert team_edit.permission == "write" and team_edit.description == "SDK", team_edit
assert team_edit.units_map == {"repo.packages": "write"}, team_edit
assert alice.organization.org_get_team(team).permission == "write"
print("ok")
