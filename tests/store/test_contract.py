"""The contract every backend passes (memory, file, redis)."""
import numpy as np
import pytest

from store.errors import InvalidEmbedding, InvalidRequest, UserExists, UserNotFound
from store.models import Match, Page, User

from .conftest import unit

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.timeout(120)]
DIM = 32


async def test_create_get_count_delete(store, rng):
    user = await store.create_user("Ada", [unit(rng, DIM)], metadata={"team": "x"})
    assert isinstance(user, User) and len(user.user_id) == 32 and user.enrollments == 1
    assert user.created_at == user.updated_at
    got = await store.get_user(user.user_id)
    assert got == user
    assert await store.count() == 1
    await store.delete_user(user.user_id)
    assert await store.count() == 0
    with pytest.raises(UserNotFound):
        await store.get_user(user.user_id)
    with pytest.raises(UserNotFound):
        await store.delete_user(user.user_id)


async def test_explicit_user_id_and_duplicates(store, rng):
    await store.create_user("Bob", [unit(rng, DIM)], user_id="bob-1")
    with pytest.raises(UserExists):
        await store.create_user("Bob again", [unit(rng, DIM)], user_id="bob-1")
    with pytest.raises(InvalidRequest):
        await store.create_user("bad", [unit(rng, DIM)], user_id="no spaces allowed")


async def test_add_enrollment(store, rng):
    user = await store.create_user("Cy", [unit(rng, DIM), unit(rng, DIM)])
    assert user.enrollments == 2
    updated = await store.add_enrollment(user.user_id, unit(rng, DIM))
    assert updated.enrollments == 3 and updated.updated_at >= user.updated_at
    assert (await store.get_user(user.user_id)).enrollments == 3
    with pytest.raises(UserNotFound):
        await store.add_enrollment("nobody", unit(rng, DIM))


@pytest.mark.parametrize("bad", [
    np.zeros(DIM), np.full(DIM, np.nan), np.ones(DIM + 1), np.ones((2, DIM)), "text"])
async def test_invalid_embeddings_rejected(store, rng, bad):
    await store.create_user("first", [unit(rng, DIM)])  # fixes the dimension
    with pytest.raises(InvalidEmbedding):
        await store.create_user("x", [bad])


async def test_empty_enrollment_list_and_bad_metadata(store, rng):
    with pytest.raises(InvalidEmbedding):
        await store.create_user("x", [])
    with pytest.raises(InvalidRequest):
        await store.create_user("x", [unit(rng, DIM)], metadata={"f": object()})


async def test_dimension_is_learned_then_fixed(store, rng):
    await store.create_user("a", [unit(rng, 16)])
    with pytest.raises(InvalidEmbedding):
        await store.create_user("b", [unit(rng, 24)])
    with pytest.raises(InvalidEmbedding):
        await store.search(unit(rng, 24))


async def test_list_users_pages_in_creation_order(store, rng):
    ids = [(await store.create_user(f"u{i}", [unit(rng, DIM)])).user_id for i in range(7)]
    page = await store.list_users(offset=2, limit=3)
    assert isinstance(page, Page) and page.total == 7 and (page.offset, page.limit) == (2, 3)
    assert [u.user_id for u in page.items] == ids[2:5]
    assert [u.user_id for u in (await store.list_users(offset=5, limit=50)).items] == ids[5:]
    with pytest.raises(InvalidRequest):
        await store.list_users(offset=-1)


async def test_metadata_round_trip(store, rng):
    meta = {"dept": "ops", "tags": ["a", "b"], "level": 3, "nested": {"ok": True}}
    user = await store.create_user("Meta", [unit(rng, DIM)], metadata=meta)
    assert (await store.get_user(user.user_id)).metadata == meta


async def test_score_and_search(store, rng):
    targets = unit(rng, DIM, 20)
    users = [await store.create_user(f"s{i}", [t]) for i, t in enumerate(targets)]
    probe = targets[7] + 0.05 * unit(rng, DIM)
    assert await store.score(users[7].user_id, probe) > 0.9
    assert await store.score(users[3].user_id, probe) < 0.9
    hits = await store.search(probe, k=3)
    assert len(hits) == 3 and isinstance(hits[0], Match)
    assert hits[0].user_id == users[7].user_id and hits[0].name == "s7"
    assert hits[0].score >= hits[1].score >= hits[2].score
    with pytest.raises(UserNotFound):
        await store.score("nobody", probe)


async def test_search_empty_store(store, rng):
    assert await store.search(unit(rng, DIM)) == []


async def test_delete_erases_from_search(store, rng):
    v = unit(rng, DIM)
    user = await store.create_user("gone", [v])
    other = await store.create_user("stays", [unit(rng, DIM)])
    await store.delete_user(user.user_id)
    hits = await store.search(v, k=5)
    assert [h.user_id for h in hits] == [other.user_id]


async def test_centroid_policy(store_factory, rng):
    s = await store_factory(score_policy="centroid")
    a, b = unit(rng, DIM), unit(rng, DIM)
    user = await s.create_user("c", [a, b])
    expected = float((a + b) @ a / np.linalg.norm(a + b))
    assert await s.score(user.user_id, a) == pytest.approx(expected, abs=1e-5)


async def test_max_policy(store_factory, rng):
    s = await store_factory(score_policy="max")
    a, b = unit(rng, DIM), unit(rng, DIM)
    user = await s.create_user("m", [a, b])
    assert await s.score(user.user_id, a) == pytest.approx(1.0, abs=1e-5)
    assert await s.score(user.user_id, b) == pytest.approx(1.0, abs=1e-5)
    others = [await s.create_user(f"o{i}", [unit(rng, DIM), unit(rng, DIM)]) for i in range(5)]
    hits = await s.search(b, k=3)
    assert hits[0].user_id == user.user_id
    assert len({h.user_id for h in hits}) == 3  # distinct users even with several rows each
    del others


async def test_search_past_the_exact_threshold(store_factory, rng):
    # A tiny threshold forces the hnswlib path; results must still be right.
    s = await store_factory(exact_search_below=30)
    vecs = unit(rng, DIM, 120)
    users = [await s.create_user(f"h{i}", [v]) for i, v in enumerate(vecs)]
    assert (await s.health())["index"]["mode"] == "hnsw"
    for i in (0, 59, 119):
        assert (await s.search(vecs[i], k=1))[0].user_id == users[i].user_id
    await s.delete_user(users[59].user_id)
    assert (await s.search(vecs[59], k=1))[0].user_id != users[59].user_id


async def test_health(store, rng):
    await store.create_user("h", [unit(rng, DIM)])
    h = await store.health()
    assert h["ok"] is True and h["backend"] == store.backend and h["users"] == 1


async def test_export_import_round_trip(store_factory, rng):
    src = await store_factory(location=0)
    made = [await src.create_user(f"e{i}", [unit(rng, DIM)], metadata={"i": i}) for i in range(5)]
    await src.add_enrollment(made[1].user_id, unit(rng, DIM))
    records = [r async for r in src.export_records()]
    assert [r.user_id for r in records] == [u.user_id for u in made]
    dst = await store_factory(location=1)
    await dst.import_records(records)
    assert await dst.count() == 5
    for u in made:
        got = await dst.get_user(u.user_id)
        assert (got.name, got.metadata, got.created_at) == (u.name, u.metadata, u.created_at)
    assert (await dst.get_user(made[1].user_id)).enrollments == 2
    v = records[3].embeddings[0]
    assert (await dst.search(v, k=1))[0].user_id == made[3].user_id
