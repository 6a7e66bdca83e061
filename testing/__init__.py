"""Shared test support for every app's tests (never imported by application code).

- ``testing.orgs``: ``Org`` (an organization with one user per role), ``make_org``, and the
  API client whose requests put the connection's schema back as it was before the request.
- ``testing.factories``: builders for catalogs, agents, tasks, screens and members.
- ``testing.events``: ``capture_events`` / ``assert_events``, what passed through the publisher.
"""
