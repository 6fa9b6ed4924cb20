// "Every waiting client gets exactly one answer", as a test oracle kept apart from the code: each
// request the test sends is opened here, each answer it sees is recorded against it, and the test
// asserts at the end that no request went unanswered and none was answered twice.
import * as assert from 'uvu/assert';

export class AnswerLedger {
  private readonly answers: number[] = [];

  /** Opens a request; call the returned function once per answer seen for it. */
  open(): () => void {
    const i = this.answers.push(0) - 1;
    return () => { this.answers[i]!++; };
  }

  /** Tracks a request answered by `p` settling (fulfilled or rejected both count as an answer). */
  track<T>(p: Promise<T>): Promise<T> {
    const answered = this.open();
    p.then(answered, answered);
    return p;
  }

  get sent(): number { return this.answers.length; }
  get unanswered(): number { return this.answers.filter((n) => n === 0).length; }
  get answeredMoreThanOnce(): number { return this.answers.filter((n) => n > 1).length; }

  assertEachAnsweredOnce(label = ''): void {
    const where = label ? `${label}: ` : '';
    assert.ok(this.sent > 0, `${where}no request was sent, so the check says nothing`);
    assert.is(this.unanswered, 0, `${where}${this.unanswered} of ${this.sent} requests got no answer`);
    assert.is(this.answeredMoreThanOnce, 0, `${where}${this.answeredMoreThanOnce} of ${this.sent} requests were answered more than once`);
  }
}
