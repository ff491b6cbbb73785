import { InvalidArgumentError } from 'commander';
import { parseRabbitMqLine, type RabbitMqLine } from '../nodes';

/** Option parsers shared by `warren sandbox` and `npm run chaos`: a bad value is commander's usage error. */
export const rabbitmqLine = (value: string): RabbitMqLine => {
  try {
    return parseRabbitMqLine(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

export const integer = (min: number, max: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`expected a whole number from ${min} to ${max}`);
  return n;
};
