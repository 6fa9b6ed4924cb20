import { suite } from '../support/suite.ts';
import * as assert from 'uvu/assert';
import { ElectionMembers } from '../../src/cluster/election-members.ts';

const members = suite('election members');

const majority = (n: number) => Math.floor(n / 2) + 1;

members('a silent member counts until forgetAfterMs after the last call that listed it, however often an unchanged list came', () => {
  const m = new ElectionMembers('a', 0, 10_000, undefined);
  const all = ['a', 'b', 'c'];
  for (let t = 0; t <= 4_000; t += 1_000) m.setMembers(t, all.slice()); // same list, a new array each time (as membership hands it out)
  m.setMembers(5_000, ['a']); // b and c were last seen live at 4 000
  assert.is(m.quorum(), majority(3));
  m.setMembers(14_000, ['a']);
  assert.is(m.quorum(), majority(3), '10 000 ms after 4 000: not yet forgotten');
  m.setMembers(14_001, ['a']);
  assert.is(m.quorum(), majority(1));
  assert.equal(m.voterIds(), ['a']);
});

members('the lowest live voter follows the list it is given, and a member that left is not offered', () => {
  const m = new ElectionMembers('b', 0, 10_000, undefined);
  m.setMembers(0, ['c', 'a', 'b']);
  assert.is(m.lowestVoter(() => true), 'a');
  m.memberLeft('a');
  assert.is(m.lowestVoter(() => true), 'b');
  m.setMembers(1_000, ['c', 'a', 'b']); // membership still lists it: live again
  assert.is(m.lowestVoter(() => true), 'a');
  m.setMembers(2_000, ['c', 'b']);
  assert.is(m.lowestVoter((id) => id !== 'b'), 'c');
});

members('a member that comes back before it is forgotten counts once, from its latest sighting', () => {
  const m = new ElectionMembers('a', 0, 10_000, undefined);
  m.setMembers(0, ['a', 'b']);
  m.setMembers(1_000, ['a']);
  m.setMembers(2_000, ['a', 'b']);
  assert.equal(m.voterIds(), ['a', 'b']);
  m.setMembers(3_000, ['a']); // b last seen live at 2 000
  m.setMembers(12_000, ['a']);
  assert.is(m.quorum(), majority(2));
  m.setMembers(12_001, ['a']);
  assert.is(m.quorum(), majority(1));
});

members.run();
