"""Resolving references inside a bundle (secondlook/fhir/references.py): contained resources."""

from secondlook.fhir.references import BundleIndex, Resolver


def _bundle() -> dict:
    claim = {"resourceType": "Claim", "id": "c",
             "contained": [{"resourceType": "Patient", "id": "p"}, {"resourceType": "Patient", "id": "q"},
                           {"resourceType": "Coverage", "id": "cov", "beneficiary": {"reference": "#q"}}],
             "patient": {"reference": "#p"}, "insurance": [{"coverage": {"reference": "#cov"}}]}
    return {"resourceType": "Bundle", "entry": [{"fullUrl": "urn:uuid:1", "resource": claim}]}


def test_two_resources_contained_in_one_entry_are_two_and_one_is_itself():
    index = BundleIndex(_bundle())
    resolver, [claim] = Resolver(index), index.entries
    p = resolver.follow({"reference": "#p"}, "Claim.patient", claim, ("Patient",))
    coverage = resolver.follow({"reference": "#cov"}, "Claim.insurance[0].coverage", claim, ("Coverage",))
    # From a contained resource, "#q" is looked up in its container.
    q = resolver.follow(coverage.resource["beneficiary"], "Coverage.beneficiary", coverage, ("Patient",))
    assert p.key != q.key and p.index == q.index  # the same entry, two patients
    assert p.key == resolver.follow({"reference": "#p"}, "again", claim, ("Patient",)).key
    assert q.path == "Bundle.entry[0].resource.contained[1]" and resolver.problems == []


def test_a_contained_reference_to_nothing_or_to_an_id_twice_resolves_to_nothing():
    bundle = _bundle()
    bundle["entry"][0]["resource"]["contained"].append({"resourceType": "Patient", "id": "p"})
    index = BundleIndex(bundle)
    resolver, [claim] = Resolver(index), index.entries
    for reference in ("#p", "#nobody", "#"):
        assert resolver.follow({"reference": reference}, "Claim.patient", claim, ("Patient",)) is None
    assert [p.code for p in resolver.problems] == ["not-found"] * 3
