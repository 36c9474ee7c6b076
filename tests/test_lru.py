"""The per-process caches' store: least recently used out first, safe under threads."""

import threading

from xrdq._lru import LRUStore


def test_the_least_recently_used_goes_first_and_none_is_never_a_key():
    s = LRUStore(2)
    s.put("a", 1)
    s.put("b", 2)
    assert s.get("a") == 1  # a is now the most recent
    s.put("c", 3)
    assert s.get("b") is None and s.get("a") == 1 and s.get("c") == 3 and len(s) == 2
    s.put(None, 4)
    assert s.get(None) is None and len(s) == 2
    s.clear()
    assert len(s) == 0


def test_threads_getting_and_evicting_at_once_do_not_break_it():
    s, errors = LRUStore(4), []

    def work(k):
        try:
            for i in range(3000):
                s.put((k, i % 7), i)
                s.get((1 - k, i % 7))
        except Exception as exc:  # noqa: BLE001 — what an unlocked OrderedDict raises (KeyError, RuntimeError)
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(s) == 4
